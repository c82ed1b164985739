"""What ``--feet lock`` adds to a refinement's time, on an 18,000-frame motion.

The motion is the validation split (CMU 001 and 007, 30 fps) corrupted with
the vibe_like preset (seed 0), clips laid end to end and repeated to the
frame count. ``refine`` runs with the feet off and on, alternately, after one
warm-up each; the median of the repeats is reported, with one torch thread.

    .venv/bin/python benchmarks/bench_feet.py [--frames 18000] [--methods hpr butterworth] [--repeats 5]

``--flight`` instead prints, for jump, run and climb/sit clips, how far the
lock moves the feet during flight (runs of at least the minimum lock time
where the clean clip has no foot joint planted): hpr on vibe_like noise
(seed 0) with and without the lock.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def long_motion(frames: int):
    from refine_core.bench import corrupted_clips
    from refine_core.motion import Motion
    from refine_core.train.data import load_cmu

    noisy = [n for _, n, _ in corrupted_clips(load_cmu(split="val"), "vibe_like", 0)]
    rot = np.concatenate([m.rotations for m in noisy])
    trans = np.concatenate([m.trans for m in noisy])
    reps = -(-frames // len(rot))
    return Motion(np.tile(rot, (reps, 1, 1))[:frames], np.tile(trans, (reps, 1))[:frames], noisy[0].fps,
                  meta={"source": "validation split, vibe_like, tiled", "up_axis": "Y"})


FLIGHT_CLIPS = (("001/001_01.bvh", "jumps (val)"), ("001/001_08.bvh", "climb, sit on the bars (val)"),
                ("001/001_14.bvh", "climb, swing, drop (val)"), ("002/002_03.bvh", "run (train)"),
                ("002/002_04.bvh", "jump (train)"), ("more:cmu_085_02", "jump twist, daz rig, 120 fps file (val)"))


def flight_clip(rel: str):
    """A FLIGHT_CLIPS entry at 30 fps: a CMU BVH path, or ``more:<name>`` for a
    more_bvh validation clip (retargeted from its rig)."""
    from refine_core.train.data import data_root, load_bvh
    from refine_core.train.dataset import load_clips

    if rel.startswith("more:"):
        return next(m for m in load_clips("val", sources=("more",)) if rel[5:] in m.meta["source"])
    return load_bvh(data_root() / rel, fps=30)


def flight_table(params):
    """Per clip: frames of its flight phases (runs of frames where the clean clip
    has no foot joint planted, at least the minimum lock time long: a one- or
    two-frame gap between clean labels is not a flight) and |locked - unlocked|
    foot joint height over them (cm): max, 95th percentile, mean; the max
    where the unlocked foot is not in the floor (within 2 frames), where the
    lock has nothing to lift out of it; the max over every frame without a
    clean contact, gaps included; and the height error to the clean clip over
    the flight phases."""
    from scipy.ndimage import binary_erosion

    from refine_core.feet import FOOT_JOINTS, PENETRATION_TOLERANCE, flight_phases, label_contacts, lock_feet
    from refine_core.refiners import refine
    from refine_core.train.noise import corrupt

    print("| clip | frames | flight frames | max cm | p95 cm | mean cm | max where the unlocked foot is not in the floor cm |"
          " max on every frame without a clean contact cm | height error to clean, unlocked / locked cm |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rel, what in FLIGHT_CLIPS:
        clean = flight_clip(rel)
        noisy, _ = corrupt(clean, "vibe_like", np.random.default_rng(0))
        plain = refine(noisy, "hpr", device="cpu")
        locked = lock_feet(plain)  # what refine(noisy, "hpr", feet="lock") gives over the whole motion
        labels = label_contacts(clean)[0]
        airborne = ~labels.any(axis=1)
        flight = flight_phases(labels, params.lock_frames(clean.fps))
        h = [m.joints()[:, FOOT_JOINTS, 1] for m in (clean, plain, locked)]
        change = np.abs(h[2] - h[1]) * 100
        lowest = np.minimum(h[1][:, 0::2], h[1][:, 1::2])  # (T, 2) each foot's lower joint, unlocked
        clear = binary_erosion(lowest >= locked.meta["floor"] - PENETRATION_TOLERANCE, np.ones((5, 1), bool),
                               border_value=1)
        clear = np.repeat(clear, 2, axis=1)  # per foot joint column
        d, above = change[flight], change[flight[:, None] & clear]
        err = [np.abs(x - h[0])[flight].mean() * 100 for x in h[1:]]
        print(f"| {rel} {what} | {clean.num_frames} | {flight.sum()} | {d.max():.2f} | {np.percentile(d, 95):.2f} | "
              f"{d.mean():.2f} | {above.max() if above.size else float('nan'):.2f} | {change[airborne].max():.2f} | "
              f"{err[0]:.2f} / {err[1]:.2f} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=18000)
    parser.add_argument("--methods", nargs="+", default=["hpr"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--flight", action="store_true", help="the flight-phase table instead of the timing")
    args = parser.parse_args()
    import torch

    if args.flight:
        from refine_core.feet import FeetParams

        torch.set_num_threads(1)
        return flight_table(FeetParams())

    from refine_core.feet import lock_feet
    from refine_core.refiners import refine

    torch.set_num_threads(1)
    motion = long_motion(args.frames)
    print(f"{args.frames} frames, torch 1 thread, load average {os.getloadavg()[0]:.1f} at the start")
    print("| method | refine s (median) | refine + feet lock s (median) | added | lock_feet alone s |")
    print("|---|---|---|---|---|")
    for method in args.methods:
        times = {"off": [], "lock": []}
        for mode in ("off", "lock"):
            refine(motion.slice(0, 300), method, device="cpu", feet=mode)  # warm-up
        for _ in range(args.repeats):
            for mode in ("off", "lock"):
                t0 = time.perf_counter()
                out = refine(motion, method, device="cpu", feet=mode)
                times[mode].append(time.perf_counter() - t0)
        alone = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            lock_feet(out)
            alone.append(time.perf_counter() - t0)
        off, on = statistics.median(times["off"]), statistics.median(times["lock"])
        print(f"| {method} | {off:.3f} | {on:.3f} | {100 * (on - off) / off:+.0f}% | {statistics.median(alone):.3f} |")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
