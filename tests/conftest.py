import os
import sys
from pathlib import Path

from hypothesis import settings

# Tests import refine_core and the test helpers from the repository root.
ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

# CI runs property tests on a fixed sequence of examples (reproducible
# verdicts); local runs keep exploring new random ones.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
