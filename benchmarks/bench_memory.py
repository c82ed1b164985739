"""Peak memory of refining a 100,000-frame motion (goal: under 2 GB with hpr).

Each method runs in a fresh process, so its peak resident memory (max RSS)
is its own: the interpreter, numpy/torch, the motion and the refinement.
The table also gives the RSS just before ``refine`` (imports and the motion
itself), so the refinement's own share is visible. Learned refiners go
window batch by window batch (refine_core/windows.py ``chunked``), which is
what keeps their peak bounded.

    .venv/bin/python benchmarks/bench_memory.py [--frames 100000] [--methods hpr savgol] [--device cpu]

Learned method: ``hpr`` when refine_core/weights/hpr.pt exists, else the
first learned method that has weights (said in the output), plus hpr with
untrained weights written to a temporary folder: memory does not depend on
the weight values, so that row measures hpr's memory before it is trained.
"""
import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_MB = 2048
CLASSICAL = ["butterworth", "gaussian", "oneeuro", "savgol", "slerp"]


def _rss_mb() -> float:
    """Current resident memory of this process (Linux /proc), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _untrained_hpr(folder):
    """HPR-Net's refine with untrained weights (a checkpoint written to ``folder``)."""
    from refine_core.refiners import hpr
    from refine_core.refiners.common import save_checkpoint

    path = Path(folder) / "hpr.pt"
    save_checkpoint(path, hpr.HPRNet(hpr.HPRConfig()), hpr.HPRConfig(), {"note": "untrained"})
    return lambda motion, device: hpr.METHOD.refine(motion, device=device, weights=path)


def measure(method: str, frames: int, device: str, untrained: bool) -> dict:
    """Runs inside the fresh child process."""
    sys.path.insert(0, str(ROOT))
    from refine_core.refiners import refine
    from refine_core.synthetic import walking_motion

    tmp = tempfile.TemporaryDirectory()
    run = _untrained_hpr(tmp.name) if untrained else (lambda motion, device: refine(motion, method, device=device))
    motion = walking_motion(frames, fps=30.0)
    before = _rss_mb()
    start = time.perf_counter()
    out = run(motion, device)
    seconds = time.perf_counter() - start
    assert out.num_frames == frames
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    return {"method": method, "frames": frames, "device": device, "seconds": round(seconds, 1),
            "rss_before_mb": round(before), "peak_rss_mb": round(peak), "untrained": untrained}


def learned_choice():
    """(method, untrained?, note) for the learned row, as the module doc says."""
    sys.path.insert(0, str(ROOT))
    from refine_core.refiners import METHODS

    if METHODS["hpr"].available:
        return "hpr", False, "hpr with its trained weights"
    ready = [m.name for m in METHODS.values() if m.kind == "learned" and m.available]
    if ready:
        return ready[0], False, f"refine_core/weights/hpr.pt not there yet: {ready[0]}, the first learned method with weights"
    return "hpr", True, "no learned weights yet: hpr with untrained weights (same memory)"


def main():
    parser = argparse.ArgumentParser(description="Peak memory of refining a long motion, one fresh process per method.")
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--methods", nargs="+", help="default: the learned choice (module doc) and every classical filter")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, frames, device, untrained = args.child
        print(json.dumps(measure(method, int(frames), device, untrained == "1")))
        return 0
    learned, untrained, note = learned_choice()
    # The goal is stated for hpr: without its weights it also runs untrained.
    methods = args.methods or [learned] + (["hpr"] if learned != "hpr" else []) + CLASSICAL
    hpr_untrained = untrained or learned != "hpr"
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}; "
          f"{args.frames:,} frames, device {args.device}; learned: {note}", file=sys.stderr)
    rows = []
    for method in methods:
        flag = "1" if (hpr_untrained and method == "hpr") else "0"
        out = subprocess.run([sys.executable, __file__, "--child", method, str(args.frames), args.device, flag],
                             capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            rows.append({"method": method, "error": (out.stderr.strip().splitlines() or ["?"])[-1]})
        else:
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  {rows[-1]}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"| method | frames | seconds | RSS before refine (MB) | peak RSS (MB) | under {GOAL_MB} MB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['method']} | | failed: {r['error']} | | | |")
            continue
        name = r["method"] + (" (untrained weights)" if r["untrained"] else "")
        print(f"| {name} | {r['frames']:,} | {r['seconds']} | {r['rss_before_mb']} | {r['peak_rss_mb']} | "
              f"{'yes' if r['peak_rss_mb'] < GOAL_MB else 'NO'} |")
    return 0 if all("error" not in r and r["peak_rss_mb"] < GOAL_MB for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
