"""Keyframes <-> ``Motion``: the fast path (``keyframe_points.add`` +
``foreach_set``/``foreach_get``), never ``keyframe_insert`` in a loop.

Layout: one action per armature with 24 x 4 ``rotation_quaternion`` curves
(Blender order w, x, y, z; the core is x, y, z, w) and 3 ``location`` curves
on the pelvis, one key per frame, row ``r`` of the motion at scene frame
``frame_start + r``. The source's meta (fps, betas, gender, extra keys, ...)
is kept on the object as a JSON string so export writes it back.
"""
import base64
import io
import json

import bpy
import numpy as np
from scipy.spatial.transform import Rotation

from ..refine_core.errors import BadInputError
from ..refine_core.motion import Motion
from ..refine_core.rotations import continuous_signs
from ..refine_core.skeleton import JOINT_NAMES, NUM_JOINTS, Skeleton
from . import armature, compat

META_KEY = "motion_refine_source"  # object custom property: JSON string
ROOT = JOINT_NAMES[0]
WXYZ = [3, 0, 1, 2]  # Blender component c (w, x, y, z) is core index WXYZ[c] (x, y, z, w)


def rot_path(name: str) -> str:
    return f'pose.bones["{name}"].rotation_quaternion'


LOC_PATH = f'pose.bones["{ROOT}"].location'


# ---------------------------------------------------------------- writing
def key_motion(obj, motion: Motion, frame_start: int):
    """Create ``obj``'s action with one key per frame of ``motion``."""
    action = bpy.data.actions.new(obj.name + " motion")
    compat.assign_action(obj, action)
    fcurves = compat.ensure_fcurves(action, obj)
    pose_q, loc = to_pose_values(obj, motion.rotations, motion.trans)
    frames = frame_start + np.arange(motion.num_frames, dtype=np.float64)
    for j, name in enumerate(JOINT_NAMES):
        for c in range(4):
            fc = compat.new_fcurve(fcurves, rot_path(name), c, name)
            _fill(fc, frames, pose_q[:, j, WXYZ[c]])
    for c in range(3):
        _fill(compat.new_fcurve(fcurves, LOC_PATH, c, ROOT), frames, loc[:, c])
    return action


def _fill(fc, frames, values):
    """Add len(frames) linear keys in one call each for co and interpolation."""
    n = len(frames)
    fc.keyframe_points.add(n)
    fc.keyframe_points.foreach_set("co", np.column_stack([frames, values]).astype(np.float32).ravel())
    fc.keyframe_points.foreach_set("interpolation", np.full(n, _LINEAR, dtype=np.int32))
    unselected = np.zeros(n, dtype=bool)  # new keys come selected; SELECTED_KEYS needs a clean slate
    for prop in ("select_control_point", "select_left_handle", "select_right_handle"):
        fc.keyframe_points.foreach_set(prop, unselected)
    fc.update()


_LINEAR = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value


def to_pose_values(obj, rotations, trans):
    """SMPL (T, 24, 4) xyzw + (T, 3) -> pose quaternions (xyzw, sign-continuous
    in time) and pelvis locations, for this armature's rest rotations."""
    rest_q = armature.rest_rotations(obj)
    pose_q = continuous_signs(armature.smpl_to_pose(rotations, rest_q), axis=0)
    loc = Rotation.from_quat(rest_q[0]).inv().apply(trans)
    return pose_q, loc


def write_rows(obj, start: int, end: int, rotations, trans):
    """Write rows start..end (inclusive) of (T, 24, 4)/(T, 3) into the existing
    keys; every other key keeps its exact value. Signs follow the current
    keys so F-curves stay continuous."""
    table = curve_table(obj)
    rows = slice(start, end + 1)
    pose_q, loc = to_pose_values(obj, rotations[rows], trans[rows])
    old = _read_curves(table, obj)[0][rows]
    flip = np.sum(old * pose_q, axis=-1) < 0
    pose_q[flip] *= -1
    first = table.frame_start
    for j in range(NUM_JOINTS):
        for c in range(4):
            _write_curve(table.rot[j][c], first, start, pose_q[:, j, WXYZ[c]])
    for c in range(3):
        _write_curve(table.loc[c], first, start, loc[:, c])


def _write_curve(fc, frame_start, row0, values):
    """Set the keys of rows row0.. to ``values`` with one foreach_set; curves
    without a key on every frame get keys inserted (slow path)."""
    co = _co(fc)
    frames = frame_start + row0 + np.arange(len(values))
    idx = np.searchsorted(co[:, 0], frames)
    if np.all(idx < len(co)) and np.array_equal(co[np.minimum(idx, len(co) - 1), 0], frames.astype(np.float32)):
        co[idx, 1] = values
        fc.keyframe_points.foreach_set("co", co.ravel())
    else:
        for f, v in zip(frames, values, strict=True):
            fc.keyframe_points.insert(float(f), float(v), options={"FAST"})
    fc.update()


# Every stored field of a keyframe: (name, values per key, dtype) for foreach_get/set.
_KEY_FIELDS = [(name, 2, np.float32) for name in ("co", "handle_left", "handle_right")] + \
    [(name, 1, np.int32) for name in ("interpolation", "easing", "handle_left_type", "handle_right_type", "type")] + \
    [(name, 1, np.float32) for name in ("back", "amplitude", "period")] + \
    [(name, 1, bool) for name in ("select_control_point", "select_left_handle", "select_right_handle")]


def motion_curve_ids() -> list[tuple[str, int, str]]:
    """(data_path, index, group) of every motion curve, in key_motion's order."""
    return [(rot_path(n), c, n) for n in JOINT_NAMES for c in range(4)] + [(LOC_PATH, c, ROOT) for c in range(3)]


def copy_motion_keys(src: bpy.types.Action, dst: bpy.types.Action, obj) -> None:
    """Make the motion curves of action ``dst`` hold exactly the keys of
    ``src``'s (both as they animate ``obj``); other curves are left alone."""
    src_curves = compat.fcurve_collection(src, obj)
    dst_curves = compat.ensure_fcurves(dst, obj)
    for path, index, group in motion_curve_ids():
        a = src_curves.find(path, index=index) if src_curves else None
        if a is None:
            continue
        b = dst_curves.find(path, index=index) or compat.new_fcurve(dst_curves, path, index, group)
        n = len(a.keyframe_points)
        b.keyframe_points.clear()
        b.keyframe_points.add(n)
        for name, width, dtype in _KEY_FIELDS:
            buf = np.empty(n * width, dtype=dtype)
            a.keyframe_points.foreach_get(name, buf)
            b.keyframe_points.foreach_set(name, buf)
        b.extrapolation = a.extrapolation
        b.update()


# ---------------------------------------------------------------- reading
class CurveTable:
    """The motion's F-curves of one armature: ``rot[j][c]`` (c in w, x, y, z),
    ``loc[c]``; ``frame_start`` and ``num_frames`` as keyed at import."""

    def __init__(self, rot, loc, frame_start, num_frames):
        self.rot, self.loc, self.frame_start, self.num_frames = rot, loc, frame_start, num_frames

    def all(self):
        return [fc for joint in self.rot for fc in joint] + list(self.loc)


def curve_table(obj) -> CurveTable:
    """Find the motion's curves; raise ValueError naming what is missing."""
    ad = obj.animation_data
    action = ad.action if ad else None
    fcurves = compat.fcurve_collection(action, obj) if action else None
    if not fcurves:
        raise ValueError(f"'{obj.name}' has no animation to refine; import a motion first")
    rot = [[fcurves.find(rot_path(n), index=c) for c in range(4)] for n in JOINT_NAMES]
    loc = [fcurves.find(LOC_PATH, index=c) for c in range(3)]
    missing = [JOINT_NAMES[j] for j in range(NUM_JOINTS) if None in rot[j]] + (["pelvis location"] if None in loc else [])
    if missing:
        raise ValueError(f"'{obj.name}' has no quaternion keys for: {', '.join(missing[:5])}")
    meta = load_meta(obj)
    first = meta.get("frame_start")
    count = meta.get("num_frames")
    if first is None or count is None:  # keys not made by import: use their span
        lo, hi = rot[0][0].range()
        first, count = int(round(lo)), int(round(hi - lo)) + 1
    return CurveTable(rot, loc, int(first), int(count))


def _co(fc) -> np.ndarray:
    co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
    fc.keyframe_points.foreach_get("co", co)
    return co.reshape(-1, 2)


def _curve_values(fc, frames) -> np.ndarray:
    """Values at integer ``frames``: the keys themselves when there is one key
    per frame (fast), else the evaluated curve."""
    co = _co(fc)
    if len(co) == len(frames) and np.array_equal(co[:, 0], frames.astype(np.float32)):
        return co[:, 1].astype(np.float64)
    return np.array([fc.evaluate(float(f)) for f in frames])


def _read_curves(table: CurveTable, obj):
    """(T, 24, 4) pose quaternions xyzw (as keyed) and (T, 3) locations."""
    frames = table.frame_start + np.arange(table.num_frames)
    pose = np.empty((table.num_frames, NUM_JOINTS, 4))
    for j in range(NUM_JOINTS):
        for c in range(4):
            pose[:, j, WXYZ[c]] = _curve_values(table.rot[j][c], frames)
    loc = np.stack([_curve_values(fc, frames) for fc in table.loc], axis=1)
    return pose, loc


def _check_keys(obj, table: CurveTable, pose, loc):
    """NaN, infinite or all-zero rotation keys (a hand edit, a broken import)
    are the user's to fix: name the bone and the scene frame, before scipy
    would fail on them with a message that names neither."""
    bad_rot = ~np.isfinite(pose).all(axis=-1) | (np.abs(np.nan_to_num(pose)).sum(axis=-1) == 0)
    bad_loc = ~np.isfinite(loc).all(axis=-1)
    for bad, what in ((bad_rot, "rotation"), (bad_loc[:, None], "location")):
        if bad.any():
            rows, bones = np.nonzero(bad)
            more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
            raise BadInputError(obj.name, f"bone {JOINT_NAMES[bones[0]]} has a NaN, infinite or zero {what} key at "
                                          f"frame {table.frame_start + rows[0]}{more}; fix or delete that key")


def read_motion_from_object(obj) -> Motion:
    """The armature's current keys as a ``Motion`` in SMPL terms, with the
    stored source meta (fps, betas, gender, extras) and the bones' skeleton."""
    table = curve_table(obj)
    pose, loc = _read_curves(table, obj)
    _check_keys(obj, table, pose, loc)
    rest_q = armature.rest_rotations(obj)
    rotations = armature.pose_to_smpl(pose, rest_q)
    rotations /= np.linalg.norm(rotations, axis=-1, keepdims=True)
    trans = Rotation.from_quat(rest_q[0]).apply(loc)
    meta = load_meta(obj)
    motion_meta = dict(meta.get("meta", {}))
    skeleton = Skeleton(armature.rest_joints(obj), source=meta.get("skeleton_source", "armature"))
    return Motion(
        rotations, trans, float(meta.get("fps", bpy.context.scene.render.fps / bpy.context.scene.render.fps_base)),
        betas=meta.get("betas"), skeleton=skeleton, keypoints_2d=meta.get("keypoints_2d"), meta=motion_meta,
    )


# ---------------------------------------------------------------- source meta
def store_meta(obj, motion: Motion, frame_start: int, **extra):
    """Keep what export needs on the object (JSON; arrays as .npy base64)."""
    meta = {k: v for k, v in motion.meta.items() if k != "source_axis_angle"}
    record = dict(
        fps=motion.fps, betas=motion.betas, keypoints_2d=motion.keypoints_2d, meta=meta,
        skeleton_source=motion.skeleton.source, frame_start=frame_start, num_frames=motion.num_frames, **extra,
    )
    obj[META_KEY] = json.dumps(_encode(record))


def load_meta(obj) -> dict:
    raw = obj.get(META_KEY)
    return _decode(json.loads(raw)) if raw else {}


def _encode(value):
    """JSON-safe form; numpy arrays and bytes keep dtype and bits exactly."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:  # element by element with the shape: np.array(list) would nest arrays into more axes
            return {"__objects__": [_encode(v) for v in value.ravel()], "shape": list(value.shape)}
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return {"__npy__": base64.b64encode(buf.getvalue()).decode("ascii")}
    if isinstance(value, np.generic):
        return {"__npy__": _encode(np.asarray(value))["__npy__"], "scalar": True}
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # paths and other plain objects


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__npy__" in value:
        arr = np.load(io.BytesIO(base64.b64decode(value["__npy__"])), allow_pickle=False)
        return arr[()] if value.get("scalar") else arr
    if "__bytes__" in value:
        return base64.b64decode(value["__bytes__"])
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__objects__" in value:
        arr = np.empty(len(value["__objects__"]), dtype=object)
        for i, v in enumerate(value["__objects__"]):  # one by one: assigning a list would broadcast sequences
            arr[i] = _decode(v)
        return arr.reshape(value["shape"])
    if "__list__" in value:  # written before the shape was kept
        return np.array(_decode(value["__list__"]), dtype=object)
    if "__dict__" in value:
        return {_decode(k): _decode(v) for k, v in value["__dict__"]}
    return {k: _decode(v) for k, v in value.items()}
