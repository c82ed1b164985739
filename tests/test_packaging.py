"""The Blender extension package (tools/build_extension.py, blender_manifest.toml).

A development build of the linux-x64 zip (no wheels: the venv's torch
stands in for the bundled one, so the test is fast and offline) is
installed with ``bpy.ops.extensions.package_install_files`` into a fresh
Blender user folder (BLENDER_USER_RESOURCES, in a subprocess: the
developer's own Blender config is never touched), enabled, and used: import
a motion, Refine Motion, from the installed copy. The full build's wheels are
checked on the zip that ``tools/build_extension.py`` left in dist/.
"""
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_extension  # noqa: E402

from refine_core.refiners import METHODS  # noqa: E402

ZIP_NAME = "motion_refine-0.1.0-linux_x64.zip"
EXT_ID = "bl_ext.user_default.motion_refine"


def _learned_method():
    """hpr when its weights exist, else the first learned method with weights."""
    ready = [m for m in ("hpr", *METHODS) if METHODS[m].kind == "learned" and METHODS[m].available]
    return ready[0] if ready else None


@pytest.fixture(scope="module")
def dev_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    zips = build_extension.build(["linux-x64"], out, with_wheels=False)
    assert [z.name for z in zips] == [ZIP_NAME]
    return zips[0]


def _validate(path) -> subprocess.CompletedProcess:
    tool = build_extension.extension_tool()
    return subprocess.run([sys.executable, str(tool), "validate", str(path)], capture_output=True, text=True)


def test_validate_manifest_and_zip(dev_zip):
    for path in (ROOT, dev_zip):
        proc = _validate(path)
        assert proc.returncode == 0 and "Success" in proc.stdout, proc.stdout + proc.stderr


def test_checked_in_manifest():
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert manifest["id"] == "motion_refine" and manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert set(manifest["platforms"]) == set(build_extension.PIP_PLATFORMS)
    assert manifest["permissions"]["files"]
    assert "wheels" not in manifest  # development installs use the environment's packages


def test_zip_contents(dev_zip):
    names = zipfile.ZipFile(dev_zip).namelist()
    top = {n.split("/")[0] for n in names}
    assert {"__init__.py", "blender_manifest.toml", "addon", "refine_core"} <= top
    assert not top & {"tests", "docs", "benchmarks", "examples", "runs", "data", "wheels", "tools", ".git"}
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".npz", ".bvh", ".zip"))]
    weights = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "refine_core" / "weights").glob("*.pt"))
    assert "refine_core/weights/classical.json" in names
    assert set(weights) <= set(names), "shipped weights missing from the package"
    assert "refine_core/train/loop.py" in names  # training code ships, training data does not
    built = tomllib.loads(zipfile.ZipFile(dev_zip).read("blender_manifest.toml").decode())
    assert built["build"]["generated"]["platforms"] == ["linux-x64"]


INSTALL_AND_REFINE = r"""
import json, sys
import bpy, addon_utils

zip_path, motion_path, methods = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
assert bpy.ops.extensions.package_install_files(
    filepath=zip_path, repo="user_default", enable_on_install=True) == {"FINISHED"}
ops_module = sys.modules[bpy.types.MOTION_REFINE_OT_refine.__module__]
assert bpy.ops.motion_refine.import_smpl(filepath=motion_path) == {"FINISHED"}
obj = bpy.context.active_object
results = {}
for method in methods:
    assert bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, method=method, frame_start=20,
                                        frame_end=100, blend_frames=3) == {"FINISHED"}
    results[method] = dict(obj["motion_refine_metrics"])
graph = bpy.data.images["Refine accel graph"]
print("RESULT " + json.dumps({
    "enabled": "@EXT_ID@" in bpy.context.preferences.addons,
    "ops_file": ops_module.__file__,
    "core_file": sys.modules[ops_module.__package__.rpartition(".")[0] + ".refine_core"].__file__,
    "top_level_refine_core": "refine_core" in sys.modules,
    "graph_file": ops_module.review.graph_path(obj.name),
    "user_dir": bpy.utils.extension_path_user("@EXT_ID@"),
    "metrics": results,
}))
""".replace("@EXT_ID@", EXT_ID)


@pytest.fixture(scope="module")
def installed(dev_zip, tmp_path_factory):
    """Install the zip into a fresh user folder, refine with the classical
    default and (when weights exist) a learned method; the run's report."""
    from refine_core.synthetic import walking_motion

    work = tmp_path_factory.mktemp("blender_user")
    motion_path = work / "walk.npz"
    walk = walking_motion(120, 30.0, 0)  # interchange keys (docs/architecture.md), Y up
    np.savez(motion_path, poses=walk.axis_angle(), trans=walk.trans, betas=np.zeros(10),
             mocap_framerate=np.float64(30.0), up_axis=np.array("Y"))
    script = work / "install_and_refine.py"
    script.write_text(INSTALL_AND_REFINE)
    methods = ["butterworth"] + ([_learned_method()] if _learned_method() else [])
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLENDER_USER")}
    env["BLENDER_USER_RESOURCES"] = str(work / "resources")
    proc = subprocess.run([sys.executable, str(script), str(dev_zip), str(motion_path), ",".join(methods)],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(lines[-1][len("RESULT "):])
    report["ext_dir"] = work / "resources" / "extensions" / "user_default" / "motion_refine"
    return report


def test_installed_copy_refines(installed):
    ext_dir = installed["ext_dir"]
    assert installed["enabled"]
    assert Path(installed["ops_file"]).is_relative_to(ext_dir), installed["ops_file"]
    assert Path(installed["core_file"]).is_relative_to(ext_dir), installed["core_file"]
    assert not Path(installed["ops_file"]).is_relative_to(ROOT)
    assert not installed["top_level_refine_core"]  # the source tree's refine_core was never imported
    m = installed["metrics"]["butterworth"]
    assert (m["frame_start"], m["frame_end"]) == (20, 100)
    assert m["accel_mean_after"] < m["accel_mean_before"]
    # The graph image lands in the extension's user folder, not its own folder.
    graph = Path(installed["graph_file"])
    assert graph.is_file() and graph.is_relative_to(installed["user_dir"])
    assert not graph.is_relative_to(ext_dir)


def test_installed_copy_runs_learned_method(installed):
    method = _learned_method()
    if method is None:
        pytest.skip("no learned weights in refine_core/weights/ yet (hpr.pt lands from training)")
    m = installed["metrics"][method]
    assert m["method"] == method and np.isfinite(m["accel_mean_after"])
    assert m["accel_mean_after"] < m["accel_mean_before"]


def test_full_build_lists_the_wheels():
    """The zip of a full build (``tools/build_extension.py``, left in dist/)
    carries the runtime wheels for its platform and lists exactly those."""
    zip_path = ROOT / "dist" / ZIP_NAME
    if not zip_path.is_file():
        pytest.skip("no full build in dist/ (run: .venv/bin/python tools/build_extension.py --platforms linux-x64)")
    zf = zipfile.ZipFile(zip_path)
    generated = tomllib.loads(zf.read("blender_manifest.toml").decode())["build"]["generated"]
    if not generated["wheels"]:
        pytest.skip(f"{zip_path} is a development build without wheels")
    shipped = sorted(n for n in zf.namelist() if n.startswith("wheels/"))
    assert sorted(w.removeprefix("./") for w in generated["wheels"]) == shipped
    dists = {build_extension._name(Path(w).name) for w in shipped}
    assert {"torch", "scipy", "smplx", "roma", "matplotlib", "joblib", "contourpy", "pillow"} <= dists
    assert "numpy" not in dists  # Blender ships its own
    torch = next(Path(w).name for w in shipped if build_extension._name(Path(w).name) == "torch")
    assert "+cpu" in torch and "x86_64" in torch
    assert not [w for w in shipped if w.startswith("wheels/nvidia")]
    assert not [w for w in shipped if "macosx" in w or "win_amd64" in w]
    assert _validate(zip_path).returncode == 0
