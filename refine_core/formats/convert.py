"""Field conversions shared by the readers: rotations, betas, fps, gender, extras.

Rotation inputs are per-frame arrays for ``J`` joints in any of the layouts
the formats use: axis-angle (T, 3J) or (T, J, 3); rotation matrices
(T, J, 3, 3) (also (T, 3, 3) when J == 1); quaternions (T, J, 4) scalar-last
(x, y, z, w); 6D (T, 6J) or (T, J, 6) (Zhou et al., first two matrix
columns). Output quaternions are (T, J, 4) xyzw, not yet normalised
(``Motion.validate`` does that and reports zero ones).
"""
from collections.abc import Mapping

import numpy as np

from ..errors import BadInputError
from ..motion import frames_text
from ..rotations import IDENTITY_QUAT, axis_angle_to_quat, matrix_to_quat, rot6d_to_matrix
from .containers import Oversize

NUM_BETAS = 10
DEFAULT_FPS = 30.0
FPS_KEYS = ("mocap_framerate", "mocap_frame_rate", "fps")
# Keys the interchange file defines; an input key of the same name that the
# reader did not use is kept as "<key>_input" so it cannot shadow them.
INTERCHANGE_KEYS = ("poses", "trans", "betas", "mocap_framerate", "gender", "up_axis")
ROTATION_TOLERANCE = 1e-2  # |R^T R - I|; float16 output stays well inside


def numeric(value, src, what):
    """``value`` as a float64 array; BadInputError if it is not numeric."""
    if value is None:
        raise BadInputError(src, f"{what} is missing (None)")
    if isinstance(value, Oversize):
        raise BadInputError(src, value.problem)
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise BadInputError(src, f"{what} is not a numeric array (dtype {arr.dtype})")
    return arr.astype(np.float64)


def joint_quats(value, joints, src, what):
    """(T, joints, 4) xyzw quaternions from any rotation layout (module doc)."""
    arr = numeric(value, src, what)
    if arr.ndim < 2:
        raise BadInputError(src, f"{what} has shape {arr.shape}; expected one row per frame")
    t, tail = arr.shape[0], arr.shape[1:]
    if t == 0:  # reshape(0, -1) below cannot infer a width
        raise BadInputError(src, f"{what} has 0 frames; a motion needs at least one frame")
    bad = ~np.isfinite(arr.reshape(t, -1)).all(axis=1)
    if bad.any():
        raise BadInputError(src, f"{what} contains NaN or infinite values at frame(s) {frames_text(np.flatnonzero(bad))}")
    j = joints
    if tail in ((3 * j,), (j, 3)):
        return axis_angle_to_quat(arr.reshape(t, j, 3))
    if tail == (j, 3, 3) or (j == 1 and tail == (3, 3)):
        return _matrices_to_quat(arr.reshape(t, j, 3, 3), src, what)
    if tail == (j, 4):
        return arr
    if tail in ((6 * j,), (j, 6)):
        return _rot6d_to_quat(arr.reshape(t, j, 6), src, what)
    raise BadInputError(
        src, f"{what} has shape {arr.shape}; expected (T, {3 * j}) or (T, {j}, 3) axis-angle, "
        f"(T, {j}, 3, 3) matrices, (T, {j}, 4) quaternions or (T, {6 * j}) 6D")


def _matrices_to_quat(mats, src, what):
    """(T, J, 3, 3) -> (T, J, 4); refuses matrices that are not rotations."""
    err = np.abs(np.swapaxes(mats, -1, -2) @ mats - np.eye(3)).max(axis=(-1, -2))
    bad = (err > ROTATION_TOLERANCE) | (np.linalg.det(mats) <= 0)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise BadInputError(src, f"{what} are not rotation matrices at frame(s) {frames_text(rows)}")
    return matrix_to_quat(mats)


def _rot6d_to_quat(rot6d, src, what):
    """(T, J, 6) -> (T, J, 4); refuses degenerate (zero or parallel) columns."""
    a, b = rot6d[..., :3], rot6d[..., 3:]
    degenerate = (np.linalg.norm(a, axis=-1) < 1e-8) | (np.linalg.norm(np.cross(a, b), axis=-1) < 1e-8)
    if degenerate.any():
        rows = np.flatnonzero(degenerate.any(axis=1))
        raise BadInputError(src, f"{what} has degenerate 6D rotations (zero or parallel columns) at frame(s) {frames_text(rows)}")
    return matrix_to_quat(rot6d_to_matrix(rot6d))


def axis_angle_layout(value, joints):
    """(T, joints, 3) float64 when ``value`` is axis-angle for ``joints`` joints, else None."""
    shape = np.shape(value)
    if len(shape) >= 2 and shape[1:] in ((3 * joints,), (joints, 3)):
        return np.asarray(value, dtype=np.float64).reshape(shape[0], joints, 3)
    return None


def with_zero_hands(aa22):
    """(T, 22, 3) axis-angle body -> (T, 24, 3) with SMPL's hand joints at zero (identity)."""
    return np.concatenate([aa22, np.zeros((len(aa22), 2, 3))], axis=1)


def body_with_identity_hands(quats22):
    """(T, 22, 4) SMPL-H/SMPL-X body joints -> (T, 24, 4): SMPL hands 22, 23 identity."""
    hands = np.broadcast_to(IDENTITY_QUAT, (len(quats22), 2, 4))
    return np.concatenate([quats22, hands], axis=1)


def body_rotations(root, body, src, root_name, body_name):
    """Root (1 joint) + body (21 or 23 joints) rotations -> ((T, 24, 4), aa).

    21 body joints are SMPL-H/SMPL-X bodies: SMPL's hand joints become
    identity. ``aa`` is the (T, 24, 3) axis-angle the file holds when both
    parts are axis-angle (for ``Motion.from_axis_angle``), else None.
    """
    root_q = joint_quats(root, 1, src, root_name)
    if isinstance(body, Oversize):
        raise BadInputError(src, body.problem)
    shape = np.shape(body)
    joints = {21: 21, 63: 21, 126: 21, 23: 23, 69: 23, 138: 23}.get(shape[1] if len(shape) >= 2 else None)
    if joints is None:
        raise BadInputError(src, f"{body_name} has shape {shape}; expected (T, 63) (21 joints: SMPL-H/SMPL-X body) "
                                 "or (T, 69) (23 joints: SMPL)")
    body_q = joint_quats(body, joints, src, body_name)
    if len(root_q) != len(body_q):
        raise BadInputError(src, f"{root_name} has {len(root_q)} frames but {body_name} has {len(body_q)}")
    quats = np.concatenate([root_q, body_q], axis=1)
    root_aa, body_aa = axis_angle_layout(root, 1), axis_angle_layout(body, joints)
    aa = None if root_aa is None or body_aa is None else np.concatenate([root_aa, body_aa], axis=1)
    if joints == 21:
        return body_with_identity_hands(quats), None if aa is None else with_zero_hands(aa)
    return quats, aa


def trans_or_zeros(value, frames, src, what="trans"):
    """(T, 3) translation, or zeros when the file has none; returns (trans, assumed)."""
    if value is None:
        return np.zeros((frames, 3)), True
    arr = numeric(value, src, what)
    if arr.ndim == 3 and arr.shape[1] == 1:  # (T, 1, 3) as some estimators keep it
        arr = arr[:, 0]
    return arr, False


def betas10(value, src):
    """(10,) betas: per-frame (T, B) averaged, longer vectors cut, shorter zero-padded."""
    if value is None:
        return None
    arr = numeric(value, src, "betas")
    if arr.ndim == 2:
        arr = arr.mean(axis=0)  # one body for the whole motion
    if arr.ndim != 1 or arr.size == 0:
        raise BadInputError(src, f"betas have shape {np.shape(value)}; expected (B,) or (T, B)")
    out = np.zeros(NUM_BETAS)
    n = min(NUM_BETAS, arr.size)
    out[:n] = arr[:n]
    return out


def read_fps(mapping, src):
    """(fps, assumed, key used) from the first of FPS_KEYS present, else 30 assumed."""
    for key in FPS_KEYS:
        if key in mapping:
            arr = np.asarray(mapping[key])
            if arr.size != 1 or arr.dtype.kind not in "iuf":
                raise BadInputError(src, f"frame rate '{key}' must be a single number, got {arr.dtype} {arr.shape}")
            return float(arr.reshape(-1)[0]), False, key
    return DEFAULT_FPS, True, None


def read_string(value):
    """A str from a str, bytes or one-element string array (gender, up axis); None otherwise."""
    arr = np.asarray(value) if value is not None else None
    if arr is None or arr.size != 1 or arr.dtype.kind not in "SUO":
        return None
    item = arr.reshape(-1)[0]
    if isinstance(item, bytes):
        item = item.decode("utf-8", "replace")
    return item.strip() if isinstance(item, str) else None


def collect_extras(mapping, consumed, prefix=""):
    """The keys a reader did not use, as arrays for the interchange file.

    Nested dicts flatten to "outer.inner". Returns (extras, dropped): values
    that are None or are not arrays of numbers/strings (e.g. lists of dicts)
    cannot go into an npz and are listed in ``dropped``. Arrays that already
    hold objects (read from an npz) are kept as they are.
    """
    extras, dropped = {}, []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if name in consumed:
            continue
        if isinstance(value, Oversize):
            value.warn_dropped()
            dropped.append(name)
            continue
        if isinstance(value, Mapping):
            sub, sub_dropped = collect_extras(value, consumed, prefix=f"{name}.")
            extras.update(sub)
            dropped += sub_dropped
            continue
        arr = as_extra_array(value)
        if arr is None:
            dropped.append(name)
        else:
            extras[f"{name}_input" if name in INTERCHANGE_KEYS else name] = arr
    return extras, dropped


def as_extra_array(value):
    """An ndarray for the npz, or None when ``value`` has no array form."""
    if isinstance(value, np.ndarray):
        return value
    if value is None:
        return None
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):  # ragged lists
        return None
    return None if arr.dtype == object else arr
