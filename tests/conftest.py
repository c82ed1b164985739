import sys
from pathlib import Path

# Tests import refine_core and the test helpers from the repository root.
ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
