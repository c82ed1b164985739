"""Procedural clean motions: a walk cycle with arm swing and a turning path.

Used by tests and as the fallback example; real training data comes from
refine_core.train.data (retargeted CMU mocap).
"""
import numpy as np
from scipy.spatial.transform import Rotation

from .motion import Motion
from .skeleton import JOINT_NAMES, NUM_JOINTS

J = {name: i for i, name in enumerate(JOINT_NAMES)}


def walking_motion(num_frames: int = 300, fps: float = 30.0, seed: int = 0) -> Motion:
    """A smooth walk of ``num_frames`` frames; ``seed`` varies stride, cadence and path."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / fps
    cadence = rng.uniform(0.8, 1.1)  # strides per second
    phase = 2 * np.pi * cadence * t
    stride = rng.uniform(0.45, 0.65)
    rotvec = np.zeros((num_frames, NUM_JOINTS, 3))
    # X-axis rotations swing limbs forward/back in the sagittal plane.
    swing = np.sin(phase)
    rotvec[:, J["left_hip"], 0] = -0.45 * swing
    rotvec[:, J["right_hip"], 0] = 0.45 * swing
    rotvec[:, J["left_knee"], 0] = 0.6 * np.clip(np.sin(phase - 1.2), 0, None)
    rotvec[:, J["right_knee"], 0] = 0.6 * np.clip(-np.sin(phase - 1.2), 0, None)
    rotvec[:, J["left_ankle"], 0] = 0.15 * np.sin(phase + 0.5)
    rotvec[:, J["right_ankle"], 0] = -0.15 * np.sin(phase + 0.5)
    rotvec[:, J["left_shoulder"], 2] = -1.2  # arms down from the T-pose
    rotvec[:, J["right_shoulder"], 2] = 1.2
    rotvec[:, J["left_shoulder"], 0] = 0.35 * swing
    rotvec[:, J["right_shoulder"], 0] = -0.35 * swing
    rotvec[:, J["left_elbow"], 1] = 0.3 + 0.15 * np.sin(phase)
    rotvec[:, J["right_elbow"], 1] = -0.3 + 0.15 * np.sin(phase)
    rotvec[:, J["spine1"], 1] = 0.05 * np.sin(phase)
    rotvec[:, J["neck"], 0] = 0.05 * np.sin(0.5 * phase)
    turn_rate = rng.uniform(-0.3, 0.3)  # rad/s
    heading = turn_rate * t
    rotvec[:, 0, 1] = heading
    speed = stride * 2 * cadence
    step = np.stack([np.sin(heading), np.zeros_like(t), np.cos(heading)], axis=1) * speed / fps
    trans = np.cumsum(step, axis=0)
    trans[:, 1] = 0.02 * np.abs(np.sin(phase))  # bob
    quats = Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_quat().reshape(num_frames, NUM_JOINTS, 4)
    return Motion(quats, trans, float(fps), betas=np.zeros(10), meta={"source": f"synthetic walk seed {seed}"})


def jittered_walk(num_frames: int = 120, fps: float = 30.0, seed: int = 0, rotation_sigma: float = 0.02,
                  trans_sigma: float = 0.01) -> Motion:
    """``walking_motion`` with white jitter on every quaternion component
    (renormalised) and on the root translation (metres): a quick noisy input."""
    motion = walking_motion(num_frames, fps, seed)
    rng = np.random.default_rng(seed)
    rot = motion.rotations + rng.normal(0, rotation_sigma, motion.rotations.shape)
    rot /= np.linalg.norm(rot, axis=-1, keepdims=True)
    return motion.replace(rotations=rot, trans=motion.trans + rng.normal(0, trans_sigma, motion.trans.shape))
