"""What ``--feet lock`` adds to a refinement's time, on an 18,000-frame motion.

The motion is the validation split (CMU 001 and 007, 30 fps) corrupted with
the vibe_like preset (seed 0), clips laid end to end and repeated to the
frame count. ``refine`` runs with the feet off and on, alternately, after one
warm-up each; the median of the repeats is reported, with one torch thread.

    .venv/bin/python benchmarks/bench_feet.py [--frames 18000] [--methods hpr butterworth] [--repeats 5]
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=18000)
    parser.add_argument("--methods", nargs="+", default=["hpr"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import torch

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
