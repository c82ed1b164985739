"""``Motion``: the one currency of the core (docs/architecture.md, "Data flow")."""
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import BadInputError
from .kinematics import fk_positions
from .rotations import axis_angle_to_quat, matrix_to_quat, quat_to_axis_angle, quat_to_matrix, slerp
from .skeleton import NUM_JOINTS, Skeleton

MIN_FRAMES_TO_REFINE = 3
# Highest frame rate accepted (high-speed capture is 960-1000 fps). Far above it the
# filters' designs break down (Butterworth at 1e10 fps: a singular matrix in scipy).
MAX_FPS = 1000.0


def check_fps(fps, source=None) -> float:
    """``fps`` as a float if it is a usable frame rate (> 0, finite, at most
    MAX_FPS), else BadInputError naming ``source`` (a file, or ``--fps``)."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise BadInputError(source, f"frame rate must be a positive number, got {fps!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise BadInputError(source, f"frame rate must be a positive number, got {fps}")
    if value > MAX_FPS:
        raise BadInputError(source, f"frame rate {fps:g} fps is above the {MAX_FPS:g} fps this tool accepts")
    return value


def nonfinite_frames(rotations, trans) -> np.ndarray:
    """Indices of the frames whose rotations or translation hold NaN or inf."""
    return np.flatnonzero(~(np.isfinite(rotations).all(axis=(1, 2)) & np.isfinite(trans).all(axis=1)))


def frames_text(idx, limit: int = 5) -> str:
    """'3, 7, 9 ... (12 in all)' for an index array."""
    idx = list(map(int, idx))
    return ", ".join(map(str, idx[:limit])) + (f" ... ({len(idx)} in all)" if len(idx) > limit else "")


@dataclass
class Motion:
    """A body motion in SMPL-24 terms.

    rotations: (T, 24, 4) unit quaternions, scalar-last (x, y, z, w), local
        joint rotations, root (global orientation) at index 0.
    trans: (T, 3) root translation, metres.
    fps: frames per second (> 0, at most MAX_FPS).
    betas: (10,) shape coefficients or None.
    skeleton: rest joints used for forward kinematics.
    keypoints_2d: (T, K, 3) (x, y, confidence) when the source has them.
    meta: source file, format, track id, up axis, gender, and ``extras``: the
        input file's other keys, written back unchanged.
    """

    rotations: np.ndarray
    trans: np.ndarray
    fps: float
    betas: np.ndarray | None = None
    skeleton: Skeleton = field(default_factory=Skeleton)
    keypoints_2d: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return self.rotations.shape[0]

    @classmethod
    def from_axis_angle(cls, poses, trans, fps, **kwargs) -> "Motion":
        """poses (T, 72) or (T, 24, 3) axis-angle; trans (T, 3)."""
        poses = np.asarray(poses, dtype=np.float64)
        if poses.shape[1:] not in ((NUM_JOINTS * 3,), (NUM_JOINTS, 3)):
            source = kwargs.get("meta", {}).get("source")
            raise BadInputError(source, f"axis-angle poses have shape {poses.shape}, expected (T, 72) or (T, 24, 3)")
        poses = poses.reshape(len(poses), NUM_JOINTS, 3)
        motion = cls(axis_angle_to_quat(poses), np.asarray(trans, dtype=np.float64), float(fps), **kwargs)
        motion.meta["source_axis_angle"] = poses.reshape(len(poses), NUM_JOINTS * 3).copy()
        return motion

    def axis_angle(self) -> np.ndarray:
        """(T, 72) axis-angle poses, SMPL joint order.

        Rows whose rotations are still exactly those read from the source's
        axis-angle return the source values, so untouched frames are written
        back bit for bit (quat -> axis-angle is not an exact inverse).
        """
        poses = quat_to_axis_angle(self.rotations).reshape(self.num_frames, NUM_JOINTS * 3)
        source = self.meta.get("source_axis_angle")
        if source is not None and source.shape == poses.shape:
            same = np.all(axis_angle_to_quat(source.reshape(-1, NUM_JOINTS, 3)) == self.rotations, axis=(1, 2))
            poses[same] = source[same]
        return poses

    def joints(self) -> np.ndarray:
        """(T, 24, 3) joint positions (metres) by forward kinematics."""
        return fk_positions(self.rotations, self.trans, self.skeleton.rest_joints)

    def replace(self, **changes) -> "Motion":
        """A copy with some fields changed (arrays are not copied)."""
        return replace(self, **changes)

    def slice(self, start: int, stop: int) -> "Motion":
        """Frames [start, stop) as a new Motion."""
        kp = None if self.keypoints_2d is None else self.keypoints_2d[start:stop]
        return replace(self, rotations=self.rotations[start:stop], trans=self.trans[start:stop], keypoints_2d=kp)

    def validate(self, source=None, min_frames: int = 1) -> "Motion":
        """A checked copy: shapes and values checked (BadInputError naming ``source``),
        quaternions normalised (estimators write slightly non-unit ones; zero or
        non-finite ones are errors), float64 arrays. ``self`` is not changed.
        """
        rot = np.asarray(self.rotations)
        trans = np.asarray(self.trans)
        if rot.ndim != 3 or rot.shape[1:] != (NUM_JOINTS, 4):
            raise BadInputError(source, f"rotations have shape {rot.shape}, expected (T, 24, 4)")
        if trans.shape != (rot.shape[0], 3):
            raise BadInputError(source, f"translation has shape {trans.shape} but the poses have {rot.shape[0]} frames; "
                                        f"expected ({rot.shape[0]}, 3)")
        if not np.issubdtype(rot.dtype, np.number) or not np.issubdtype(trans.dtype, np.number):
            raise BadInputError(source, "poses and translation must be numeric arrays")
        if rot.shape[0] < min_frames:
            raise BadInputError(source, f"has {rot.shape[0]} frame(s); at least {min_frames} needed")
        if not np.all(np.isfinite(rot)) or not np.all(np.isfinite(trans)):
            raise BadInputError(source, f"NaN or infinite values at frame(s) {frames_text(nonfinite_frames(rot, trans))}")
        fps = check_fps(self.fps, source)
        norms = _quat_norms(rot)
        if np.any(norms < 1e-6):
            zero = np.flatnonzero((norms < 1e-6).any(axis=1))
            raise BadInputError(source, f"zero-length rotation quaternion at frame(s) {frames_text(zero)}")
        if self.betas is not None and not np.all(np.isfinite(self.betas)):
            raise BadInputError(source, "betas contain NaN or infinite values")
        # Renormalise only what is off: dividing unit quaternions again would
        # change their last bits and break bit-identical untouched frames.
        rot = rot.astype(np.float64)
        off = np.abs(norms - 1.0) > 1e-9
        # Scale by the largest component first: lengths near the float limit overflow.
        scaled = rot[off] / np.abs(rot[off]).max(axis=-1, keepdims=True)
        rot[off] = scaled / np.linalg.norm(scaled, axis=-1, keepdims=True)
        return replace(self, rotations=rot, trans=trans.astype(np.float64), fps=float(fps))


# World up axes a file may declare (meta["up_axis"]); Y when unknown.
UP_AXES = {"Y": (0, 1, 0), "-Y": (0, -1, 0), "Z": (0, 0, 1), "-Z": (0, 0, -1), "X": (1, 0, 0), "-X": (-1, 0, 0)}


def up_direction(axis) -> np.ndarray:
    """(3,) unit up vector of an up-axis name ("Z", "-y", "+Y"; None or unknown: Y)."""
    name = str(axis or "Y").strip().upper().lstrip("+")
    return np.array(UP_AXES.get(name, UP_AXES["Y"]), dtype=np.float64)


def rotate_world(motion: Motion, matrix) -> Motion:
    """Turn the whole motion by the world rotation ``matrix`` (3, 3) about the origin.

    Joint positions from FK become ``joints @ matrix.T``. The root rotates
    about the pelvis rest joint J_0 (as in SMPL, see kinematics.py), so
    ``trans`` becomes C (J_0 + trans) - J_0, not C trans.
    """
    c = np.asarray(matrix, dtype=np.float64)
    rot = motion.rotations.copy()
    rot[:, 0] = matrix_to_quat(c @ quat_to_matrix(rot[:, 0]))
    j0 = motion.skeleton.rest_joints[0]
    trans = (j0 + motion.trans) @ c.T - j0
    return motion.replace(rotations=rot, trans=trans)


def resample(motion: Motion, fps: float) -> Motion:
    """The motion at ``fps``: slerp for rotations, linear for translation.

    Frame i of the output is time i / fps; the output ends at the last input
    time it reaches. Integer ratios hit input frames exactly (60 -> 30 fps
    keeps every second frame, bit for bit). 2D keypoints take the nearest frame.
    """
    fps = float(fps)
    if fps == motion.fps:
        return motion
    n = motion.num_frames
    ratio = motion.fps / fps
    count = int(np.floor((n - 1) / ratio + 1e-9)) + 1
    u = np.arange(count) * ratio
    i0 = np.minimum(np.floor(u + 1e-9).astype(int), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    w = np.clip(u - i0, 0.0, 1.0)
    rot = slerp(motion.rotations[i0], motion.rotations[i1], w[:, None])
    rot = np.where(w[:, None, None] == 0.0, motion.rotations[i0], rot)  # exact on input frames
    trans = (1 - w[:, None]) * motion.trans[i0] + w[:, None] * motion.trans[i1]
    kp = None if motion.keypoints_2d is None else motion.keypoints_2d[np.where(w < 0.5, i0, i1)]
    meta = dict(motion.meta, resampled_from_fps=motion.fps)
    return motion.replace(rotations=rot, trans=trans, fps=fps, keypoints_2d=kp, meta=meta)


def _quat_norms(rot: np.ndarray) -> np.ndarray:
    """(..., 4) -> (...) lengths; components beyond ~1e154 overflow the plain
    sum of squares to inf (which would normalise them to zero), so those rows
    are scaled by their largest component first."""
    with np.errstate(over="ignore"):  # overflow is expected here and handled
        norms = np.linalg.norm(rot, axis=-1)
        big = ~np.isfinite(norms)
        if big.any():
            r = rot[big]
            scale = np.abs(r).max(axis=-1, keepdims=True)
            norms[big] = scale[:, 0] * np.linalg.norm(r / scale, axis=-1)
    return norms

