"""Where the shipped weights live: the one place that computes their paths."""
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TUNED_FILTERS_PATH = WEIGHTS_DIR / "classical.json"


def weights_path(method: str) -> Path:
    """The shipped checkpoint of learned method ``method``."""
    return WEIGHTS_DIR / f"{method}.pt"
