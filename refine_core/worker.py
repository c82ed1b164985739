"""The refiner as a worker process: ``python -m refine_core worker JOB OUT``.

The Blender add-on's "External Python" preference runs this in a user's own
interpreter (one with CUDA torch, too big to bundle). The job file holds the
``Motion`` and the ``refine`` arguments; the result file the refined motion.
Both are plain npz files of float64 arrays (no pickles, no axis-angle round
trip), so the result equals an in-process ``refine`` run. While it works the
worker prints ``progress F`` lines (F in 0..1) on stdout; errors follow the
CLI's exit codes (2 bad input, 1 internal) with one line on stderr.
"""
import json

import numpy as np

from .atomic import atomic_write
from .motion import Motion
from .skeleton import Skeleton

PROGRESS_PREFIX = "progress "


def _save(path, arrays: dict):
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def write_job(path, motion: Motion, method: str, **kwargs):
    """Write a refine job: ``motion`` plus ``refine``'s keyword arguments
    (frame_range, blend, strength, device, params; JSON-serialisable)."""
    arrays = {
        "rotations": np.asarray(motion.rotations, dtype=np.float64),
        "trans": np.asarray(motion.trans, dtype=np.float64),
        "fps": np.float64(motion.fps),
        "rest_joints": np.asarray(motion.skeleton.rest_joints, dtype=np.float64),
        "skeleton_source": np.asarray(str(motion.skeleton.source)),
        "args": np.asarray(json.dumps(dict(kwargs, method=method))),
    }
    if motion.betas is not None:
        arrays["betas"] = np.asarray(motion.betas, dtype=np.float64)
    if motion.keypoints_2d is not None:
        arrays["keypoints_2d"] = np.asarray(motion.keypoints_2d, dtype=np.float64)
    _save(path, arrays)


def read_job(path):
    """(Motion, refine keyword arguments with ``method``) from a job file."""
    with np.load(path, allow_pickle=False) as z:
        motion = Motion(
            rotations=z["rotations"], trans=z["trans"], fps=float(z["fps"]),
            betas=z["betas"] if "betas" in z else None,
            skeleton=Skeleton(z["rest_joints"], str(z["skeleton_source"])),
            keypoints_2d=z["keypoints_2d"] if "keypoints_2d" in z else None,
            meta={"source": str(path)},
        )
        args = json.loads(str(z["args"]))
    if args.get("frame_range") is not None:
        args["frame_range"] = tuple(args["frame_range"])
    return motion, args


def write_result(path, motion: Motion, added_meta: dict):
    """The refined rotations (T, 24, 4) and trans (T, 3), and the meta
    entries ``refine`` added (e.g. refined_with, refined_range) as JSON."""
    _save(path, {
        "rotations": np.asarray(motion.rotations, dtype=np.float64),
        "trans": np.asarray(motion.trans, dtype=np.float64),
        "meta": np.asarray(json.dumps(added_meta, default=str)),
    })


def read_result(path):
    """(rotations, trans, added meta) from a result file."""
    with np.load(path, allow_pickle=False) as z:
        return z["rotations"], z["trans"], json.loads(str(z["meta"]))


def run(job_path, out_path, out=None) -> None:
    """Refine the job and write the result, printing progress lines."""
    import sys

    from .refiners import refine

    stream = out or sys.stdout

    def progress(fraction):
        stream.write(f"{PROGRESS_PREFIX}{float(fraction):.4f}\n")
        stream.flush()

    motion, args = read_job(job_path)
    before = dict(motion.meta)
    refined = refine(motion, args.pop("method"), progress=progress, **args)
    added = {k: v for k, v in refined.meta.items() if k not in before}
    write_result(out_path, refined, added)
