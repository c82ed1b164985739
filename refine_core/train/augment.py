"""Augmentations and resampling of a Motion: mirror, world rotation, speed.

All keep the Motion's conventions (SMPL frame, Y up; DESIGN.md section 1).
The root rotates about the pelvis rest joint J_0 (as in SMPL, see
kinematics.py), so a world change of the body moves ``trans`` by
C (J_0 + trans) - J_0, not C trans.
"""
import numpy as np

from ..motion import Motion, resample  # noqa: F401  (resample: re-exported for training code)
from ..rotations import matrix_to_quat, quat_to_matrix
from ..skeleton import MIRROR

# Reflection across the YZ plane (x -> -x): the body's left-right mirror.
REFLECT_X = np.diag([-1.0, 1.0, 1.0])


def change_speed(motion: Motion, factor: float) -> Motion:
    """Play ``factor`` times faster at the same fps (2.0 halves the frame count)."""
    return resample(motion.replace(fps=motion.fps * factor), motion.fps)


def rotate(motion: Motion, matrix) -> Motion:
    """Turn the whole motion by the world rotation ``matrix`` (3, 3) about the origin.

    Joint positions from FK become ``joints @ matrix.T``.
    """
    c = np.asarray(matrix, dtype=np.float64)
    rot = motion.rotations.copy()
    rot[:, 0] = matrix_to_quat(c @ quat_to_matrix(rot[:, 0]))
    j0 = motion.skeleton.rest_joints[0]
    trans = (j0 + motion.trans) @ c.T - j0
    return motion.replace(rotations=rot, trans=trans)


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


def random_augment(motion: Motion, rng, p_mirror=0.5, yaw=True, speed=(0.8, 1.25)) -> Motion:
    """A random mix: mirror with probability ``p_mirror``, a uniform yaw turn,
    and a speed factor drawn log-uniformly from ``speed`` (None: unchanged).
    ``rng`` is a numpy Generator (or a seed)."""
    rng = np.random.default_rng(rng)
    if rng.random() < p_mirror:
        motion = mirror(motion)
    if yaw:
        motion = rotate_yaw(motion, rng.uniform(-np.pi, np.pi))
    if speed is not None:
        lo, hi = np.log(speed[0]), np.log(speed[1])
        motion = change_speed(motion, float(np.exp(rng.uniform(lo, hi))))
    return motion
