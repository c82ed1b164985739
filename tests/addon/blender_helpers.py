"""Test data for the bpy tests (kept out of conftest.py so test modules can
import it by a unique name)."""
import numpy as np

NUM_FRAMES = 600
FPS = 30.0


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
    """An AMASS-style .npz (docs/architecture.md, "Interchange file") with gender, extra keys and
    the up axis (the synthetic walk is Y up; AMASS-style files without the
    key read as Z up)."""
    poses, trans = noisy_walk(num_frames, fps, seed)
    betas = np.linspace(-0.5, 0.5, 10)
    extra = {} if up_axis is None else {"up_axis": np.array(up_axis)}
    np.savez(path, poses=poses, trans=trans, betas=betas, mocap_framerate=np.array(fps),
             gender=np.array("female"), marker_labels=np.array(["a", "b"]), dmpls=np.ones((num_frames, 8)), **extra)
    return path


def backup_of(obj):
    """The Restore Original backup of ``obj``'s current action, or None."""
    from motion_refine.addon import backups

    return backups.backup_of(obj)
