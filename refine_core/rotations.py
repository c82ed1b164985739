"""Rotation conversions and quaternion helpers.

Conventions (as scipy and roma): quaternions are scalar-last (x, y, z, w);
rotation matrices act on column vectors; axis-angle is a rotation vector
(axis * angle, radians). numpy functions take any leading shape (..., 4).
"""
import numpy as np
from scipy.spatial.transform import Rotation

IDENTITY_QUAT = np.array([0.0, 0.0, 0.0, 1.0])


def _flat(x, tail):
    x = np.asarray(x, dtype=np.float64)
    return x.reshape((-1,) + tail), x.shape[: x.ndim - len(tail)]


def axis_angle_to_quat(rotvec):
    """(..., 3) rotation vectors -> (..., 4) unit quaternions (xyzw)."""
    flat, lead = _flat(rotvec, (3,))
    return Rotation.from_rotvec(flat).as_quat().reshape(lead + (4,))


def quat_to_axis_angle(quat):
    """(..., 4) quaternions (xyzw, normalised here) -> (..., 3) rotation vectors."""
    flat, lead = _flat(quat, (4,))
    return Rotation.from_quat(flat).as_rotvec().reshape(lead + (3,))


def matrix_to_quat(mat):
    """(..., 3, 3) rotation matrices -> (..., 4) quaternions (xyzw)."""
    flat, lead = _flat(mat, (3, 3))
    return Rotation.from_matrix(flat).as_quat().reshape(lead + (4,))


def quat_to_matrix(quat):
    """(..., 4) quaternions (xyzw) -> (..., 3, 3) rotation matrices."""
    flat, lead = _flat(quat, (4,))
    return Rotation.from_quat(flat).as_matrix().reshape(lead + (3, 3))


def quat_multiply(*quats):
    """Product, left to right, of (..., 4) xyzw quaternions (shapes broadcast):
    the rotation that applies the last one first."""
    arrays = np.broadcast_arrays(*(np.asarray(q, dtype=np.float64) for q in quats))
    product = Rotation.from_quat(arrays[0].reshape(-1, 4))
    for q in arrays[1:]:
        product = product * Rotation.from_quat(q.reshape(-1, 4))
    return product.as_quat().reshape(arrays[0].shape)


def quat_inverse(quat):
    """(..., 4) xyzw -> the inverse rotations (unit quaternions)."""
    flat, lead = _flat(quat, (4,))
    return Rotation.from_quat(flat).inv().as_quat().reshape(lead + (4,))


# The project's one 6D layout (Zhou et al.): the first two matrix columns,
# concatenated, (..., 6) = [c0, c1]; rotations_torch has the torch twins.
def rot6d_to_matrix(rot6d):
    """(..., 6) 6D rotations -> (..., 3, 3), Gram-Schmidt on the two columns (roma's)."""
    import torch

    from .rotations_torch import rot6d_to_matrix as torch_rot6d_to_matrix

    return torch_rot6d_to_matrix(torch.as_tensor(np.asarray(rot6d, dtype=np.float64))).numpy()


def matrix_to_rot6d(mat):
    """(..., 3, 3) -> (..., 6): the first two columns."""
    mat = np.asarray(mat, dtype=np.float64)
    return np.concatenate([mat[..., :, 0], mat[..., :, 1]], axis=-1)


def normalize_quat(quat, eps=1e-12):
    """(..., 4) -> unit quaternions. Raises ValueError on (near-)zero quaternions."""
    quat = np.asarray(quat, dtype=np.float64)
    norm = np.linalg.norm(quat, axis=-1, keepdims=True)
    if np.any(norm < eps):
        raise ValueError("zero-length quaternion")
    return quat / norm


def continuous_signs(quat, axis=0):
    """Flip quaternion signs along ``axis`` (time) so neighbours lie on one hemisphere.

    q and -q are the same rotation; linear filters need each joint's track on
    one side (dot(q_t, q_{t-1}) >= 0) or they average across the double cover.
    """
    quat = np.moveaxis(np.array(quat, dtype=np.float64), axis, 0)
    dots = np.sum(quat[1:] * quat[:-1], axis=-1)
    flips = np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)
    quat[1:] *= flips[..., None]
    return np.moveaxis(quat, 0, axis)


def quat_angle_between(q1, q2):
    """(..., 4) x2 -> (...) geodesic angle in radians between the rotations."""
    q1 = normalize_quat(q1)
    q2 = normalize_quat(q2)
    dot = np.abs(np.sum(q1 * q2, axis=-1)).clip(0.0, 1.0)
    return 2.0 * np.arccos(dot)


def slerp(q0, q1, t):
    """Short-arc spherical interpolation of (..., 4) quaternions, weight t (...) in [0, 1].

    Shapes broadcast. t = 0 gives q0 and t = 1 gives q1 (sign-aligned to q0).
    """
    q0 = normalize_quat(q0)
    q1 = normalize_quat(q1)
    lead = np.broadcast_shapes(q0.shape[:-1], q1.shape[:-1], np.shape(t))
    q0, q1 = np.broadcast_to(q0, (*lead, 4)), np.broadcast_to(q1, (*lead, 4))
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), lead)
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    out = np.where((t >= 1.0)[..., None], q1, q0)
    # Only weights strictly between 0 and 1 need the trigonometry (a refined range
    # is mostly weight 1); the ends come out as the formula gives them.
    mid = (t > 0.0) & (t < 1.0)
    if mid.any():
        a, b, w, c = q0[mid], q1[mid], t[mid][:, None], np.abs(dot[mid])
        theta = np.arccos(c.clip(0.0, 1.0))
        sin = np.sin(theta)
        near = sin < 1e-8  # nearly equal rotations: lerp is exact enough and avoids 0/0
        safe = np.where(near, 1.0, sin)
        w0 = np.where(near, 1.0 - w, np.sin((1.0 - w) * theta) / safe)
        w1 = np.where(near, w, np.sin(w * theta) / safe)
        out[mid] = w0 * a + w1 * b
    return out / np.linalg.norm(out, axis=-1, keepdims=True)
