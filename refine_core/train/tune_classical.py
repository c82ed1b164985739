"""Tune the classical filters on the TRAINING split (never validation).

Each filter's parameter grid is scored on the whole training split the learned
methods train on (CMU and more_bvh, every rig, ``load_clips("train")``)
corrupted with the ``vibe_like`` preset; the objective is MPJPE + accel error (both mm-based, so
neither smoothing alone nor fidelity alone wins). The best parameters go to
``refine_core/weights/classical.json``, which the registry uses as defaults.
``--preset`` tunes for another noise level (the modern preset's best filter
is a lighter one) and ``--out`` writes it elsewhere: docs/results.md scores
those parameters beside the defaults (docs/methods/classical.md).

    python -m refine_core.train.tune_classical [--preset modern --out runs/classical_modern.json]
"""
import argparse
import itertools
import json
import sys
from pathlib import Path

from ..atomic import atomic_write
from ..bench import corrupted_clips, score
from ..refiners import refine
from ..resources import TUNED_FILTERS_PATH

GRIDS = {
    "butterworth": {"cutoff_hz": [1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0]},
    "gaussian": {"sigma_frames": [0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0]},
    "oneeuro": {"min_cutoff": [0.3, 0.6, 1.0, 2.0], "beta": [0.1, 0.5, 1.0, 3.0]},
    "savgol": {"window": [5, 7, 9, 11, 15, 21, 27], "polyorder": [2, 3]},
    "slerp": {"step": [2, 3, 4, 6, 8]},
}
PRESET = "vibe_like"
FRAMES_PER_CLIP = 900  # keeps the grid search to a couple of minutes on 2 cores


def objective(row) -> float:
    return row["mpjpe"] + row["accel_error"]


def tune(seed: int = 0, log=print, preset: str = PRESET) -> dict:
    from .dataset import load_clips

    clips = [c.slice(0, min(c.num_frames, FRAMES_PER_CLIP)) for c in load_clips("train")]
    triples = corrupted_clips(clips, preset, seed)
    tuned = {}
    for name, grid in GRIDS.items():
        best = None
        for values in itertools.product(*grid.values()):
            params = dict(zip(grid, values, strict=False))
            row = score(triples, lambda m, name=name, params=params: refine(m, name, params=params))
            if best is None or objective(row) < objective(best[1]):
                best = (params, row)
            log(f"{name:<12} {params}  mpjpe {row['mpjpe']:.2f}  accel_error {row['accel_error']:.2f}")
        tuned[name] = {"params": best[0], "train_mpjpe": round(best[1]["mpjpe"], 3),
                       "train_accel_error": round(best[1]["accel_error"], 3)}
    return {"objective": "mpjpe + accel_error", "preset": preset, "split": "train", "data": "load_clips('train')",
            "frames_per_clip": FRAMES_PER_CLIP, "seed": seed, "methods": tuned}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m refine_core.train.tune_classical", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default=PRESET, help=f"noise preset to tune on (default {PRESET}: the defaults)")
    parser.add_argument("--out", type=Path, default=TUNED_FILTERS_PATH, help="JSON to write (default: the registry's)")
    args = parser.parse_args(argv)
    result = tune(preset=args.preset)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out, text=True) as f:
        f.write(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
