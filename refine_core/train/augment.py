"""Augmentations and resampling of a Motion: mirror, world rotation, speed,
rest-pose offsets, frame rate.

All keep the Motion's conventions (SMPL frame, Y up; docs/architecture.md).
World turns are motion.rotate_world.
"""
import numpy as np

from ..motion import Motion, resample  # noqa: F401  (resample: re-exported for training code)
from ..motion import rotate_world as rotate  # the name training code and tests call
from ..rotations import axis_angle_to_quat, matrix_to_quat, quat_to_matrix
from ..skeleton import MIRROR

# Reflection across the YZ plane (x -> -x): the body's left-right mirror.
REFLECT_X = np.diag([-1.0, 1.0, 1.0])


def change_speed(motion: Motion, factor: float) -> Motion:
    """Play ``factor`` times faster at the same fps (2.0 halves the frame count)."""
    return resample(motion.replace(fps=motion.fps * factor), motion.fps)


def rotate_yaw(motion: Motion, angle: float) -> Motion:
    """Turn the motion by ``angle`` radians about the vertical (+Y) axis."""
    c, s = np.cos(angle), np.sin(angle)
    return rotate(motion, np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]))


def mirror(motion: Motion) -> Motion:
    """Swap left and right: reflect across the YZ plane (x -> -x).

    A reflected rotation M R M (M = diag(-1, 1, 1)) is, for a quaternion
    (x, y, z, w), (x, -y, -z, w); joints trade places through
    skeleton.MIRROR. FK of the result is the reflected FK of the input when
    the rest skeleton is left-right symmetric (the neutral one is, to a few mm).
    """
    rot = motion.rotations[:, MIRROR] * np.array([1.0, -1.0, -1.0, 1.0])
    j0 = motion.skeleton.rest_joints[0]
    trans = (j0 + motion.trans) @ REFLECT_X - j0
    return motion.replace(rotations=rot, trans=trans)


# Std (degrees, per axis) of the constant per-joint rest offsets: the
# wrists and hands, whose clean orientation a model could most easily
# memorise from one retarget's habits, get the most.
REST_OFFSET_DEG = np.full(24, 3.0)
REST_OFFSET_DEG[0] = 0.0  # the root's orientation is the heading, turned by rotate_yaw
REST_OFFSET_DEG[[20, 21, 22, 23]] = 10.0
RATES = (20.0, 24.0, 25.0, 30.0, 50.0, 60.0)


def rest_offsets(motion: Motion, rng, scale: float = 1.0) -> Motion:
    """Compose one random constant rotation per joint on the right of its local
    rotation for the whole clip (q_j(t) O_j): a body with another rest pose and
    hand orientation, so no fixed pose can be learnt as "clean". Std per axis:
    REST_OFFSET_DEG times ``scale``."""
    rng = np.random.default_rng(rng)
    offset = rng.normal(size=(24, 3)) * np.radians(REST_OFFSET_DEG)[:, None] * scale
    rot = matrix_to_quat(quat_to_matrix(motion.rotations) @ quat_to_matrix(axis_angle_to_quat(offset)))
    return motion.replace(rotations=rot)


def random_rate(motion: Motion, rng, rates=RATES) -> Motion:
    """The motion resampled to a frame rate drawn from ``rates`` (same duration:
    per-frame motion, jitter and acceleration change as they would in a file at that rate)."""
    rng = np.random.default_rng(rng)
    return resample(motion, float(rates[rng.integers(len(rates))]))


def random_augment(motion: Motion, rng, p_mirror=0.5, yaw=True, speed=(0.8, 1.25), rest_offset=0.0, rates=None) -> Motion:
    """A random mix: mirror with probability ``p_mirror``, a uniform yaw turn,
    and a speed factor drawn log-uniformly from ``speed`` (None: unchanged);
    then, when asked, per-joint rest offsets (``rest_offset``: their scale,
    0 off) and a frame rate drawn from ``rates`` (None: unchanged). The
    defaults draw exactly what they drew before the last two existed.
    ``rng`` is a numpy Generator (or a seed)."""
    rng = np.random.default_rng(rng)
    if rng.random() < p_mirror:
        motion = mirror(motion)
    if yaw:
        motion = rotate_yaw(motion, rng.uniform(-np.pi, np.pi))
    if speed is not None:
        lo, hi = np.log(speed[0]), np.log(speed[1])
        motion = change_speed(motion, float(np.exp(rng.uniform(lo, hi))))
    if rest_offset:
        motion = rest_offsets(motion, rng, rest_offset)
    if rates:
        motion = random_rate(motion, rng, rates)
    return motion
