"""How low an acceleration error can go, and where a filter's smoothing is not
penalised: the measurements behind issue 17's unmet acceleration bars
(docs/methods/learned.md, "How low the acceleration error can go").

    .venv/bin/python tools/accel_floor.py floor                # every split and rig
    .venv/bin/python tools/accel_floor.py oracle --split test --preset vibe_like
    .venv/bin/python tools/accel_floor.py by-rig --split test --preset modern --methods hpr gaussian
    .venv/bin/python tools/accel_floor.py hf-cost --split test --preset modern

floor: the clean motion's own content above a cutoff (the accel error of the
clean joints low-passed there, zero-phase Butterworth of order 4), per split
and rig. Mocap's marker noise sits there; a method that removes it is charged
for it, whatever it does to the noise.
oracle: per clip, the best of a grid of Butterworth and Gaussian filters,
chosen knowing the clean clip: what no fixed linear filter can beat on average.
by-rig: the bench's rows split by the clips' rig.
hf-cost: the noisy input with only the clean motion's own content above each
cutoff taken out (every added error kept): what removing mocap's noise
alone costs in MPJPE and accel error.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfiltfilt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from refine_core import metrics  # noqa: E402
from refine_core.bench import corrupted_clips, method_spec, score  # noqa: E402
from refine_core.refiners import refine  # noqa: E402
from refine_core.train.dataset import load_clips  # noqa: E402

CUTOFFS_HZ = (6.0, 8.0)
MIN_FRAMES = 60  # shorter clips are skipped: the zero-phase filter's edge padding (15 frames) would dominate them
ORACLE_GRID = ([("butterworth", f"cutoff_hz={c}") for c in (1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 8)]
               + [("gaussian", f"sigma_frames={s}") for s in (1, 1.5, 2, 2.5, 3, 4)])


def low_passed(joints: np.ndarray, cutoff_hz: float, fps: float) -> np.ndarray:
    """(T, J, 3) joints through a zero-phase Butterworth of order 4."""
    return sosfiltfilt(butter(4, cutoff_hz, fs=fps, output="sos"), joints, axis=0)


def floor(splits) -> None:
    print("| split | rig | frames | accel | " + " | ".join(f"content above {c:g} Hz" for c in CUTOFFS_HZ) + " |")
    print("|---|---|---|---|" + "---|" * len(CUTOFFS_HZ))
    for split in splits:
        sums = {}
        for clip in load_clips(split):  # every rig of the split (bench_clips("val") is the CMU part only)
            joints = metrics.pelvis_aligned(clip.joints())
            if len(joints) < MIN_FRAMES:
                continue
            row = sums.setdefault(clip.meta.get("rig", "?"), np.zeros(2 + len(CUTOFFS_HZ)))
            accel = metrics.second_difference(joints)
            row[0] += len(accel)
            row[1] += np.linalg.norm(accel, axis=-1).mean(1).sum()
            for k, cutoff in enumerate(CUTOFFS_HZ):
                low = low_passed(joints, cutoff, clip.fps)
                row[2 + k] += np.linalg.norm(metrics.second_difference(low) - accel, axis=-1).mean(1).sum()
        for rig, row in sums.items():
            per_frame = 1000 * row[1:] / row[0]  # mm/frame^2
            print(f"| {split} | {rig} | {int(row[0]):,} | " + " | ".join(f"{v:.2f}" for v in per_frame) + " |")


def oracle(split: str, preset: str) -> None:
    triples = corrupted_clips(load_clips(split), preset, seed=0)
    totals = np.zeros(len(ORACLE_GRID))
    best = frames = 0.0
    for clean, noisy, _ in triples:
        errors = np.array([metrics.evaluate(refine(noisy, name, params=[p]), clean)["accel_error"]
                           for name, p in ORACLE_GRID])
        n = clean.num_frames - 2
        totals += errors * n
        best += errors.min() * n
        frames += n
    fixed = int(np.argmin(totals))
    name, p = ORACLE_GRID[fixed]
    print(f"{split} {preset}: per-clip oracle accel error {best / frames:.2f} mm/frame^2; "
          f"best fixed filter {name}:{p} {totals[fixed] / frames:.2f} ({len(triples)} clips)")


def hf_cost(split: str, preset: str) -> None:
    triples = corrupted_clips(load_clips(split), preset, seed=0)
    for cutoff in CUTOFFS_HZ:
        sums = np.zeros(5)
        for clean, noisy, _ in triples:
            truth, given = (metrics.pelvis_aligned(m.joints()) for m in (clean, noisy))
            if len(truth) < MIN_FRAMES:
                continue
            smoothed = low_passed(truth, cutoff, clean.fps) + (given - truth)
            n = len(truth)
            sums += n * np.array([1.0, metrics.mpjpe(given, truth), metrics.mpjpe(smoothed, truth),
                                  metrics.accel_error(given, truth), metrics.accel_error(smoothed, truth)])
        frames, *values = sums
        mpjpe_in, mpjpe_out, accel_in, accel_out = (v / frames for v in values)
        print(f"{split} {preset}, clean motion's content above {cutoff:g} Hz taken out: MPJPE {mpjpe_in:.2f} -> "
              f"{mpjpe_out:.2f} mm, accel error {accel_in:.2f} -> {accel_out:.2f} mm/frame^2")


def by_rig(split: str, preset: str, methods) -> None:
    triples = corrupted_clips(load_clips(split), preset, seed=0)
    rigs = sorted({clean.meta.get("rig", "?") for clean, _, _ in triples})
    print("| rig | method | MPJPE | PA-MPJPE | accel err |")
    print("|---|---|---|---|---|")
    for rig in rigs:
        part = [t for t in triples if t[0].meta.get("rig", "?") == rig]
        for entry in ["noisy input", *methods]:
            if entry == "noisy input":
                row = score(part)
            else:
                name, params = method_spec(entry)
                row = score(part, lambda m, n=name, p=params: refine(m, n, params=p or None))
            print(f"| {rig} | {entry} | {row['mpjpe']:.2f} | {row['pa_mpjpe']:.2f} | {row['accel_error']:.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("floor", "oracle", "by-rig", "hf-cost"))
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--preset", default="vibe_like")
    parser.add_argument("--methods", nargs="+", default=["hpr", "gaussian:sigma_frames=1.5"])
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    if args.what == "floor":
        floor(("train", "val", "test"))
    elif args.what == "oracle":
        oracle(args.split, args.preset)
    elif args.what == "hf-cost":
        hf_cost(args.split, args.preset)
    else:
        by_rig(args.split, args.preset, args.methods)
    return 0


if __name__ == "__main__":
    sys.exit(main())
