"""Batch throughput: the core batch with --jobs 1, --jobs 2, --ray local, and
the Blender batch, on the same files, side by side (not a test).

    .venv/bin/python benchmarks/bench_batch.py [--files 300] [--frames 300] [--method hpr]
        [--modes jobs1 jobs2 ray blender] [--blender-jobs 2]

Writes the inputs (noisy synthetic walks) to a temporary folder, runs each
mode as a user would (a subprocess of ``python -m refine_core batch`` or
``python addon/batch.py``) with one torch thread per worker process
(OMP_NUM_THREADS=1), and prints a markdown table: wall time of the whole
command (interpreter, Ray and worker start included), files/s over that
wall time, files/s of the batch's own loop (the report's ``seconds``: from
the first file handed out, worker start-up included, Ray's cluster start
not), model loads and workers from the report, and the load average.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_inputs(folder: Path, files: int, frames: int):
    from refine_core.formats import write_npz
    from refine_core.synthetic import walking_motion

    folder.mkdir(parents=True)
    for i in range(files):
        motion = walking_motion(frames, 30.0, i)
        rng = np.random.default_rng(i)
        rot = motion.rotations + rng.normal(0, 0.02, motion.rotations.shape)
        rot /= np.linalg.norm(rot, axis=-1, keepdims=True)
        write_npz(motion.replace(rotations=rot, trans=motion.trans + rng.normal(0, 0.01, motion.trans.shape)),
                  folder / f"take{i:04d}.npz")


def command(mode: str, inputs: Path, out: Path, report: Path, method: str, blender_jobs: int) -> list:
    core = [sys.executable, "-m", "refine_core", "batch", str(inputs), "--out", str(out), "--method", method,
            "--report", str(report), "--quiet"]
    return {"jobs1": core + ["--jobs", "1"],
            "jobs2": core + ["--jobs", "2"],
            "ray": core + ["--ray", "local"],
            "blender": [sys.executable, str(ROOT / "addon" / "batch.py"), "--", str(inputs), "--out", str(out),
                        "--method", method, "--report", str(report), "--quiet", "--jobs", str(blender_jobs)]}[mode]


LABELS = {"jobs1": "core `--jobs 1`", "jobs2": "core `--jobs 2`", "ray": "core `--ray local`",
          "blender": "Blender batch `--jobs {n}`"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=300)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--method", default="hpr")
    p.add_argument("--modes", nargs="+", default=["jobs1", "jobs2", "ray", "blender"], choices=list(LABELS))
    p.add_argument("--blender-jobs", type=int, default=2)
    args = p.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        tmp = Path(tmp)
        make_inputs(tmp / "in", args.files, args.frames)
        load_before = os.getloadavg()
        for mode in args.modes:
            out, report = tmp / f"out_{mode}", tmp / f"report_{mode}.json"
            t0 = time.perf_counter()
            result = subprocess.run(command(mode, tmp / "in", out, report, args.method, args.blender_jobs),
                                    cwd=ROOT, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if result.returncode != 0:
                print(f"{mode}: exit {result.returncode}\n{result.stderr[-2000:]}", file=sys.stderr)
                return 1
            s = json.loads(report.read_text())["summary"]
            rows.append((LABELS[mode].format(n=args.blender_jobs), wall, args.files / wall, s["files_per_second"],
                         s["model_loads"], s["workers"]))
            print(f"{mode}: {wall:.1f} s", file=sys.stderr, flush=True)
        load_after = os.getloadavg()
    print(f"{args.files} files of {args.frames} frames, {args.method}, OMP_NUM_THREADS=1, "
          f"{os.cpu_count()} CPUs; load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)\n")
    print("| run | wall s | files/s (wall) | files/s (batch loop) | model loads | workers |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, wall, fps_wall, fps_loop, loads, workers in rows:
        print(f"| {label} | {wall:.1f} | {fps_wall:.2f} | {fps_loop:.2f} | {loads} | {workers} |")
    by = {label: row for label, *row in rows}
    if LABELS["ray"] in by and LABELS["jobs2"] in by:
        ray, two = by[LABELS["ray"]], by[LABELS["jobs2"]]
        print(f"\nRay / --jobs 2: {ray[2] / two[2]:.2f}x (batch loop), {ray[1] / two[1]:.2f}x (wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
