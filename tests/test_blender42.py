"""The add-on tests again under Blender 4.2 LTS (bpy 4.2 in .venv-bpy42).

bpy is one module per process, so the 4.2 run is a subprocess with that
environment's Python. setup.sh creates .venv-bpy42.
"""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PY42 = ROOT / ".venv-bpy42" / "bin" / "python"


@pytest.mark.skipif(not PY42.exists(), reason=".venv-bpy42 missing: run ./setup.sh to create the Blender 4.2 environment")
def test_addon_tests_pass_on_blender_42():
    if Path(sys.prefix).resolve() == PY42.parents[1].resolve():
        pytest.skip("already running under .venv-bpy42")
    version = subprocess.run([str(PY42), "-c", "import bpy; print(bpy.app.version_string)"],
                             capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip().startswith("4.2"), version.stdout
    run = subprocess.run([str(PY42), "-m", "pytest", "tests/addon", "-q", "-p", "no:cacheprovider"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    tail = (run.stdout + run.stderr)[-4000:]
    assert run.returncode == 0, f"Blender 4.2 add-on tests failed:\n{tail}"
    assert " passed" in run.stdout and " failed" not in run.stdout, tail
