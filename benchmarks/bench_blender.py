"""Blender layer speed: import, write-back, and keyframe_insert for comparison.

Run: .venv/bin/python benchmarks/bench_blender.py [--frames 10000] [--insert-frames 200]
(bpy as a module stands in for ``blender -b --python``.) Prints a table.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import bpy
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "addon"))
import _bootstrap  # noqa: E402

PKG = _bootstrap.load_package(ROOT)
from motion_refine.addon import animio, ops_import, ops_refine, prefs  # noqa: E402
from motion_refine.refine_core.refiners import refine  # noqa: E402
from motion_refine.refine_core.skeleton import JOINT_NAMES  # noqa: E402
from motion_refine.refine_core.synthetic import walking_motion  # noqa: E402


def fresh():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if hasattr(bpy.types.Scene, "motion_refine"):
        PKG.unregister()
    PKG.register()
    prefs.ensure_addon_entry(bpy.context)


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


def write_file(motion, path):
    """The interchange .npz written with numpy (docs/architecture.md, "Interchange file")."""
    np.savez(path, poses=motion.axis_angle(), trans=motion.trans, betas=np.zeros(10),
             mocap_framerate=np.array(motion.fps))
    return path


def bench_import(motion, tmp, repeat):
    """File -> armature + keys through the operator (read included), and the
    bpy part alone (Motion already in memory). Best of ``repeat``."""
    path = write_file(motion, Path(tmp) / "walk.npz")
    t_op = t_build = np.inf
    for _ in range(repeat):
        fresh()
        t_op = min(t_op, timed(bpy.ops.motion_refine.import_smpl, filepath=str(path))[0])
        fresh()
        t, obj = timed(ops_import.import_motion, bpy.context, motion, "walk")
        t_build = min(t_build, t)
    return t_op, t_build, obj


def bench_write_back(obj, motion, repeat):
    """Refined rows -> existing keys (foreach_get/foreach_set, one pass). Best of ``repeat``."""
    refined = refine(motion, "butterworth")
    t_write = min(timed(animio.write_rows, obj, 0, motion.num_frames - 1, refined.rotations, refined.trans)[0]
                  for _ in range(repeat))
    t_read = min(timed(animio.read_motion_from_object, obj)[0] for _ in range(repeat))
    return t_write, t_read


def bench_refine_object(obj, frames):
    settings = ops_refine.RefineSettings("butterworth", 1, frames)
    t, _ = timed(ops_refine.refine_object, obj, settings)
    return t


def bench_keyframe_insert(motion, frames):
    """The slow path: pose each frame, ``keyframe_insert`` per bone."""
    fresh()
    obj = ops_import.import_motion(bpy.context, motion.slice(0, 2), "slow")
    obj.animation_data_clear()
    rot, loc = animio.to_pose_values(obj, motion.rotations[:frames], motion.trans[:frames])
    wxyz = rot[..., animio.WXYZ]
    bones = [obj.pose.bones[n] for n in JOINT_NAMES]
    t = time.perf_counter()
    for f in range(frames):
        for j, pb in enumerate(bones):
            pb.rotation_quaternion = wxyz[f, j]
            pb.keyframe_insert("rotation_quaternion", frame=f + 1)
        bones[0].location = loc[f]
        bones[0].keyframe_insert("location", frame=f + 1)
    return time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--insert-frames", type=int, default=1000, help="frames for the keyframe_insert run (extrapolated)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N for the fast-path timings")
    args = ap.parse_args(argv)
    n = args.frames
    motion = walking_motion(n, 30.0, 0)
    with tempfile.TemporaryDirectory() as tmp:
        t_op, t_build, obj = bench_import(motion, tmp, args.repeat)
    t_write, t_read = bench_write_back(obj, motion, args.repeat)
    t_refine = bench_refine_object(obj, n)
    m = min(args.insert_frames, n)
    t_insert = bench_keyframe_insert(motion, m)
    rows = [
        (f"import operator, {n} frames (file read + armature + keys)", t_op, "goal < 1 s"),
        ("  of which armature + keys (fast path)", t_build, ""),
        (f"write back {n} refined frames (foreach_set)", t_write, "goal < 0.5 s"),
        (f"read {n} frames of keys into a Motion", t_read, ""),
        (f"refine_object, butterworth, {n} frames (all steps)", t_refine, ""),
        (f"keyframe_insert per bone per frame, {m} frames", t_insert, "measured"),
        (f"keyframe_insert, {n} frames (x{n / m:g} linear extrapolation)", t_insert * n / m,
         "lower bound: cost per key grows with the key count"),
    ]
    print(f"Blender {bpy.app.version_string}, best of {args.repeat}, {n} frames, 24 bones, "
          "99 F-curves (96 quaternion + 3 location)")
    print(f"{'step':62s} {'seconds':>9s}  note")
    for name, sec, note in rows:
        print(f"{name:62s} {sec:9.3f}  {note}")
    print(f"fast-path import is {t_insert * n / m / t_build:.0f}x faster than keyframe_insert")


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None)
