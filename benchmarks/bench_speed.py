"""Speed of every available method at 1,800 and 18,000 frames (and more on request).

Each measurement runs in a fresh process so peak memory (max RSS, and CUDA
peak allocation on a GPU) belongs to that method alone. Frames/s counts the
refinement only (the motion is built beforehand); one warm-up run first,
then the median of ``--repeats`` timed runs (one run on this machine varies
by up to 25%).

    .venv/bin/python benchmarks/bench_speed.py [--frames 1800 18000] [--methods hpr butterworth]
        [--device cpu|cuda] [--threads N] [--repeats 3]

On a machine shared with other work, use --threads 1: torch's threads wait
on each other for busy cores and every operation gets many times slower.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(method: str, frames: int, device: str, threads: int, repeats: int = 3) -> dict:
    """Runs inside the child process."""
    sys.path.insert(0, str(ROOT))
    import torch

    from refine_core.refiners import refine
    from refine_core.synthetic import walking_motion

    if threads:
        torch.set_num_threads(threads)
    motion = walking_motion(frames, fps=30.0)
    refine(motion.slice(0, min(frames, 300)), method, device=device)  # warm-up: loads weights
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        refine(motion, method, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    row = {"method": method, "frames": frames, "device": device, "seconds": round(seconds, 3),
           "frames_per_s": round(frames / seconds),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    if device == "cuda":
        row["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, nargs="+", default=[1800, 18000])
    parser.add_argument("--methods", nargs="+")
    parser.add_argument("--device", default=None, choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's own choice)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement; the median is reported")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.child[2], int(args.child[3]), int(args.child[4]))))
        return 0
    sys.path.insert(0, str(ROOT))
    import torch

    from refine_core.refiners import available_methods

    devices = [args.device] if args.device else (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    threads = args.threads or torch.get_num_threads()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {threads} torch threads, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}, median of {args.repeats} runs")
    print("| method | device | frames | seconds | frames/s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for method in args.methods or available_methods():
        for device in devices:
            for frames in args.frames:
                out = subprocess.run([sys.executable, __file__, "--child", method, str(frames), device, str(args.threads),
                                      str(args.repeats)],
                                     capture_output=True, text=True)
                if out.returncode:
                    print(f"| {method} | {device} | {frames} | failed: {out.stderr.strip().splitlines()[-1]} | | |")
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"| {method} | {device} | {frames} | {r['seconds']} | {r['frames_per_s']:,} | {r['peak_rss_mb']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
