"""bpy test fixtures: a factory-fresh Blender with the add-on registered.

The repository root is loaded as the package ``motion_refine`` by path
(addon/_bootstrap.py), as the batch script does, so the add-on imports the
core relatively exactly as inside the installed extension.
"""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("_mr_bootstrap", ROOT / "addon" / "_bootstrap.py")
_bootstrap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bootstrap)
PKG = _bootstrap.load_package(ROOT)

NUM_FRAMES = 600
FPS = 30.0


def _fresh_blender():
    """Factory settings, then (re-)register: classes survive a factory reset
    but the add-on's preferences entry does not."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if hasattr(bpy.types.Scene, "motion_refine"):
        PKG.unregister()
    PKG.register()
    PKG.addon.prefs.ensure_addon_entry(bpy.context)


@pytest.fixture
def blender():
    """A fresh scene with the add-on registered; yields the package."""
    _fresh_blender()
    yield PKG
    bpy.ops.wm.read_factory_settings(use_empty=True)


def noisy_walk(num_frames=NUM_FRAMES, fps=FPS, seed=0):
    """A synthetic walk with estimator-like jitter (rotations and root)."""
    from motion_refine.refine_core.rotations import quat_to_axis_angle
    from motion_refine.refine_core.synthetic import walking_motion

    motion = walking_motion(num_frames, fps, seed)
    rng = np.random.default_rng(seed)
    poses = quat_to_axis_angle(motion.rotations) + rng.normal(0, 0.03, (num_frames, 24, 3))
    trans = motion.trans + rng.normal(0, 0.01, motion.trans.shape)
    return poses.reshape(num_frames, 72), trans


def write_interchange(path, num_frames=NUM_FRAMES, fps=FPS, seed=0, up_axis="Y"):
    """An AMASS-style .npz (DESIGN.md section 2) with gender, extra keys and
    the up axis (the synthetic walk is Y up; AMASS-style files without the
    key read as Z up)."""
    poses, trans = noisy_walk(num_frames, fps, seed)
    betas = np.linspace(-0.5, 0.5, 10)
    extra = {} if up_axis is None else {"up_axis": np.array(up_axis)}
    np.savez(path, poses=poses, trans=trans, betas=betas, mocap_framerate=np.array(fps),
             gender=np.array("female"), marker_labels=np.array(["a", "b"]), dmpls=np.ones((num_frames, 8)), **extra)
    return path


@pytest.fixture
def motion_file(tmp_path):
    return write_interchange(tmp_path / "walk.npz")
