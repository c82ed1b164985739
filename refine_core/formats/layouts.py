"""What a loaded file holds, and how it becomes a Motion.

A *layout* is a data structure (AMASS keys, VIBE tracks, PHALP frames...),
independent of the container it came in; the format id is
"<layout>_<container>", e.g. "vibe_pkl", "gvhmr_pt", "amass_npz". Readers
return an unvalidated Motion whose meta holds what only the layout knows
(extras, gender, up axis, fps_assumed, trans_assumed, dropped_keys); the
caller adds source, format and track fields and validates.

Up axes (meta["up_axis"]): "Z" for AMASS, "Y" for gravity-aligned world
frames (WHAM world, GVHMR global), "-Y" for camera frames (OpenCV camera:
x right, y down, z forward; VIBE, PHALP, WHAM/GVHMR in-camera results).
"""
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BadInputError
from ..motion import Motion
from ..skeleton import NEUTRAL_REST_JOINTS
from .containers import dict_member
from .convert import (
    DEFAULT_FPS,
    axis_angle_layout,
    betas10,
    body_rotations,
    body_with_identity_hands,
    collect_extras,
    joint_quats,
    numeric,
    read_fps,
    read_string,
    trans_or_zeros,
    with_zero_hands,
)


@dataclass(frozen=True)
class Layout:
    """One file structure: how to recognise it, list its tracks, read it."""

    name: str
    description: str
    containers: tuple          # the containers this layout usually comes in, for FORMATS
    matches: Callable[[Any], bool]
    read: Callable[[Any, Any, str], Motion]   # (obj, track id or None, source) -> Motion
    tracks: Callable[[Any], list] = lambda obj: []   # [(track id, frames)]; [] = single motion


# ------------------------------------------------------- rotations -> Motion
def _rotations24(value, src, what):
    """SMPL-24 rotations in any layout -> ((T, 24, 4), (T, 24, 3) axis-angle or None)."""
    return joint_quats(value, 24, src, what), axis_angle_layout(value, 24)


def _body22(poses, src, what):
    """SMPL-H/SMPL-X poses: the first 22 joints; SMPL's hands identity."""
    body = poses[:, :66]
    return body_with_identity_hands(joint_quats(body, 22, src, what)), with_zero_hands(axis_angle_layout(body, 22))


def _new_motion(rotations, aa, trans, fps, **kwargs):
    """A Motion, built from the file's own axis-angle when it has one:
    ``Motion.from_axis_angle`` keeps it, so frames a refiner leaves untouched
    are written back bit for bit."""
    if aa is not None:
        return Motion.from_axis_angle(aa, trans, fps, **kwargs)
    return Motion(rotations, trans, fps, **kwargs)


# ---------------------------------------------------------------- npz dicts
def _shape(value):
    """np.shape, or () for values with no array shape (ragged lists)."""
    try:
        return np.shape(value)
    except (ValueError, TypeError):
        return ()


def _poses_width(obj):
    shape = _shape(obj.get("poses")) if isinstance(obj, Mapping) else ()
    return shape[1] if len(shape) == 2 else None


def _read_poses(obj, track, src):
    """AMASS-style ``poses``: (T, 72) SMPL, (T, 156) SMPL-H, (T, 165) SMPL-X."""
    poses = numeric(obj["poses"], src, "poses")
    width = _poses_width(obj)
    derived = {}
    if width in (156, 165):
        rotations, aa = _body22(poses, src, "poses (body joints)")
        derived = _face_and_hands(poses, width)
    elif poses.ndim == 2 and width not in (72, 144):
        raise BadInputError(src, f"poses has shape {poses.shape}; expected (T, 72) SMPL, (T, 156) SMPL-H or (T, 165) SMPL-X")
    else:
        rotations, aa = _rotations24(obj["poses"], src, "poses")
    # root_orient/pose_body (AMASS SMPL-X files) repeat the body of ``poses``.
    consumed = {"poses", "root_orient", "pose_body"}
    amass = width in (156, 165) or any(k in obj for k in ("dmpls", "surface_model_type", "mocap_frame_rate"))
    return _mapping_motion(obj, rotations, aa, src, consumed, derived, up_axis="Z" if amass else None)


def _face_and_hands(poses, width):
    """The non-body joints of SMPL-H/SMPL-X poses, under AMASS's split key names.

    Kept as extras so the interchange file does not lose the hands (SMPL's
    own two hand joints are identity).
    """
    if width == 156:  # 22 body + 30 hand joints
        return {"pose_hand": poses[:, 66:156]}
    return {"pose_jaw": poses[:, 66:69], "pose_eye": poses[:, 69:75], "pose_hand": poses[:, 75:165]}


def _read_split(obj, track, src):
    """``root_orient`` (T, 3) + ``pose_body`` (T, 63) or (T, 69) + ``trans``."""
    rotations, aa = body_rotations(obj["root_orient"], obj["pose_body"], src, "root_orient", "pose_body")
    return _mapping_motion(obj, rotations, aa, src, {"root_orient", "pose_body"}, {}, up_axis=None)


def _mapping_motion(obj, rotations, aa, src, consumed, derived, up_axis):
    """Motion from an AMASS-like dict: trans, betas, fps, gender; the rest are extras."""
    trans, trans_assumed = trans_or_zeros(obj.get("trans"), len(rotations), src)
    fps, fps_assumed, fps_key = read_fps(obj, src)
    gender = read_string(obj.get("gender"))
    file_up = read_string(obj.get("up_axis"))
    consumed = set(consumed) | {"trans", "betas", fps_key}
    consumed |= {key for key, value in (("gender", gender), ("up_axis", file_up)) if value}
    extras, dropped = collect_extras(obj, consumed)
    for key, value in derived.items():
        extras.setdefault(key, value)
    meta = _meta(extras, dropped, fps_assumed, trans_assumed, gender, file_up or up_axis)
    return _new_motion(rotations, aa, trans, fps, betas=betas10(obj.get("betas"), src), meta=meta)


# ----------------------------------------------------------- plain arrays
_ARRAY_SHAPES = ("(T, 72), (T, 24, 3) axis-angle, (T, 24, 3, 3) matrices, (T, 24, 4) xyzw quaternions, "
                 "(T, 144) or (T, 24, 6) 6D, (T, 156) SMPL-H or (T, 165) SMPL-X axis-angle")


def _single_array(obj):
    if isinstance(obj, np.ndarray):
        return obj
    if isinstance(obj, Mapping) and len(obj) == 1:
        value = next(iter(obj.values()))
        return value if isinstance(value, np.ndarray) else None
    return None


def _read_array(obj, track, src):
    """One array of SMPL rotations; no translation (zeros) and no fps (30)."""
    arr = _single_array(obj)
    if arr.ndim == 2 and arr.shape[1] in (156, 165):
        rotations, aa = _body22(arr, src, "array (body joints)")
    elif arr.ndim >= 2 and arr.shape[1] in (72, 144, 24):
        rotations, aa = _rotations24(arr, src, "array")
    else:
        hint = _positions_hint(arr.shape)
        raise BadInputError(src, f"array of shape {arr.shape} {hint or 'is not a motion'}; expected {_ARRAY_SHAPES}")
    meta = _meta({}, [], True, True, None, None)
    return _new_motion(rotations, aa, np.zeros((len(rotations), 3)), DEFAULT_FPS, meta=meta)


# ------------------------------------------------- VIBE / TCMR / WHAM tracks
def _track_dicts(obj):
    """True for {track id: {"pose": ..., ...}} (VIBE, TCMR, WHAM)."""
    return (isinstance(obj, Mapping) and len(obj) > 0
            and all(isinstance(v, Mapping) and "pose" in v for v in obj.values()))


def _is_wham(obj):
    return _track_dicts(obj) and any(k in v for v in obj.values() for k in ("pose_world", "trans_world", "trans"))


def _pose_tracks(obj):
    return [(tid, (_shape(d["pose"]) or (0,))[0]) for tid, d in obj.items()]


def _read_vibe(obj, track, src):
    """VIBE/TCMR: ``pose`` (T, 72) in the camera frame, ``betas`` (T, 10).

    No translation: ``pred_cam``/``orig_cam`` are weak-perspective cameras
    (scale and image offset); a metric translation would need a focal length
    the file does not have, so trans is zeros and both cameras stay extras.
    """
    d = obj[track]
    rotations, aa = _rotations24(d["pose"], src, f"track {track} pose")
    kp = d.get("joints2d")  # the 2D tracker's (T, K, 3) keypoints, None with bbox tracking
    usable = isinstance(kp, np.ndarray) and kp.ndim == 3 and kp.shape[2] == 3 and len(kp) == len(rotations)
    kp = kp.astype(np.float64) if usable and kp.dtype.kind in "iuf" else None
    extras, dropped = collect_extras(d, {"pose", "betas"})
    meta = _meta(extras, dropped, True, True, None, "-Y")
    return _new_motion(rotations, aa, np.zeros((len(rotations), 3)), DEFAULT_FPS,
                       betas=betas10(d.get("betas"), src), keypoints_2d=kp, meta=meta)


def _read_wham(obj, track, src):
    """WHAM: world-frame ``pose_world``/``trans_world`` (y up) when present.

    The camera-frame ``pose``/``trans`` are then kept as extras ``pose_cam``/``trans_cam``.
    """
    d = dict(obj[track])
    world = "pose_world" in d and "trans_world" in d
    pose_key, trans_key = ("pose_world", "trans_world") if world else ("pose", "trans")
    rotations, aa = _rotations24(d.pop(pose_key), src, f"track {track} {pose_key}")
    trans, trans_assumed = trans_or_zeros(d.pop(trans_key, None), len(rotations), src, f"track {track} {trans_key}")
    if world:
        for key in ("pose", "trans"):
            if key in d:
                d[f"{key}_cam"] = d.pop(key)
    extras, dropped = collect_extras(d, {"betas"})
    meta = _meta(extras, dropped, True, trans_assumed, None, "Y" if world else "-Y")
    return _new_motion(rotations, aa, trans, DEFAULT_FPS, betas=betas10(d.get("betas"), src), meta=meta)


# ------------------------------------------------------ 4D-Humans / PHALP
def _is_phalp(obj):
    return (isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, Mapping) for v in obj.values())
            and any("smpl" in v and ("tid" in v or "tracked_ids" in v) for v in obj.values()))


def _phalp_frames(obj):
    """[(frame name, frame dict)] in time order ('time' key, else file order)."""
    items = list(obj.items())
    times = [f.get("time") for _, f in items]
    if all(isinstance(t, int | np.integer) for t in times):
        items = [items[i] for i in np.argsort(np.asarray(times), kind="stable")]
    return items


def _phalp_ids(frame):
    """Track ids the per-person lists of a frame follow ('tid': every live track)."""
    return list(frame.get("tid", frame.get("tracked_ids", [])))


def _phalp_spans(frames):
    """{track id: (first, last)} frame indices where the track was detected
    (in 'tracked_ids') and has data (in 'tid')."""
    spans = {}
    for i, (_, frame) in enumerate(frames):
        ids = _phalp_ids(frame)
        for tid in frame.get("tracked_ids", ids):
            if tid in ids:
                first, _ = spans.get(tid, (i, i))
                spans[tid] = (first, i)
    return spans


def _phalp_tracks(obj):
    return [(tid, last - first + 1) for tid, (first, last) in _phalp_spans(_phalp_frames(obj)).items()]


def _read_phalp(obj, track, src):
    """PHALP / 4D-Humans: per frame, per person ``smpl`` rotation matrices.

    The motion spans the frames from the track's first to its last detection.
    Frames inside where the tracker only predicted it (or lost it) hold its
    last values, and their 2D keypoints get confidence 0. Translation is
    ``camera``: the mesh translation PHALP renders with (camera frame, from
    its nominal focal length).
    """
    frames = _phalp_frames(obj)
    first, last = _phalp_spans(frames)[track]
    rows, observed, names, times = [], [], [], []
    for name, frame in frames[first:last + 1]:
        ids = _phalp_ids(frame)
        if track in ids:
            k = ids.index(track)
            rows.append({key: v[k] for key, v in frame.items() if _per_person(key, v, ids)})
        else:
            rows.append(rows[-1])
        observed.append(track in frame.get("tracked_ids", ids))
        names.append(str(name))
        times.append(frame.get("time", first + len(times)))
    return _phalp_motion(rows, np.asarray(observed), names, times, track, src)


def _per_person(key, value, ids):
    return key not in ("tid", "tracked_ids", "tracked_bbox") and isinstance(value, list | tuple) and len(value) == len(ids)


def _phalp_motion(rows, observed, names, times, track, src):
    smpl = [r.get("smpl") for r in rows]
    if not all(isinstance(s, Mapping) for s in smpl):
        raise BadInputError(src, f"track {track}: 'smpl' entries are not dicts of SMPL parameters")

    def stack(key):
        return np.stack([np.asarray(s[key]) for s in smpl])

    rotations, aa = body_rotations(stack("global_orient"), stack("body_pose"), src,
                                   f"track {track} smpl global_orient", f"track {track} smpl body_pose")
    betas = betas10(stack("betas"), src) if all("betas" in s for s in smpl) else None
    camera = _stack_rows(rows, "camera")
    trans_ok = camera is not None and camera.shape[1:] == (3,)
    trans = numeric(camera, src, f"track {track} camera") if trans_ok else np.zeros((len(rows), 3))
    extras, dropped = {}, []
    for key in sorted({k for r in rows for k in r} - {"smpl", "camera"}):
        arr = _stack_rows(rows, key)
        if arr is None:
            dropped.append(key)
        else:
            extras[key] = arr
    extras.update(frame_ids=np.asarray(times), frame_names=np.asarray(names), observed=observed)
    meta = _meta(extras, dropped, True, not trans_ok, None, "-Y")
    return _new_motion(rotations, aa, trans, DEFAULT_FPS, betas=betas,
                       keypoints_2d=_phalp_keypoints(rows, observed), meta=meta)


def _stack_rows(rows, key):
    """(T, ...) array of one per-person field, or None when it does not stack."""
    try:
        arr = np.stack([np.asarray(r[key]) for r in rows])
    except (KeyError, ValueError, TypeError):
        return None
    return None if arr.dtype == object else arr


def _phalp_keypoints(rows, observed):
    """(T, K, 3): PHALP's '2d_joints' (K*2,) in [0, 1] of the padded square
    image, with confidence 1 where detected and 0 where only predicted."""
    joints = _stack_rows(rows, "2d_joints")
    if joints is None or joints.dtype.kind not in "iuf" or joints.ndim != 2 or joints.shape[1] % 2:
        return None
    xy = joints.reshape(len(rows), -1, 2).astype(np.float64)
    conf = np.broadcast_to(observed.astype(np.float64)[:, None, None], xy.shape[:2] + (1,))
    return np.concatenate([xy, conf], axis=2)


# ------------------------------------------------------------------ GVHMR
def _gvhmr_key(obj):
    for key in ("smpl_params_global", "smpl_params_incam"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            return key
    return None


def _gvhmr_tracks(obj):
    """Multi-person variants stack persons first: body_pose (P, T, 63)."""
    shape = _shape(obj[_gvhmr_key(obj)].get("body_pose"))
    return [(i, shape[1]) for i in range(shape[0])] if len(shape) == 3 else []


def _read_gvhmr(obj, track, src):
    """GVHMR ``hmr4d_results.pt``: ``smpl_params_global`` (gravity-aligned, y up)
    with global_orient (T, 3), body_pose (T, 63) SMPL-X body, transl (T, 3),
    betas (T, 10); ``smpl_params_incam`` only when there is no global one."""
    key = _gvhmr_key(obj)
    params = obj[key]
    pick = (lambda v: v) if track is None else (lambda v: None if v is None else np.asarray(v)[track])
    rotations, aa = body_rotations(pick(params["global_orient"]), pick(params["body_pose"]), src,
                                   f"{key}.global_orient", f"{key}.body_pose")
    trans, trans_assumed = trans_or_zeros(pick(params.get("transl")), len(rotations), src, f"{key}.transl")
    consumed = {f"{key}.{k}" for k in ("global_orient", "body_pose", "transl", "betas")}
    extras, dropped = collect_extras(obj, consumed)
    meta = _meta(extras, dropped, True, trans_assumed, None, "Y" if key == "smpl_params_global" else "-Y")
    return _new_motion(rotations, aa, trans, DEFAULT_FPS, betas=betas10(pick(params.get("betas")), src), meta=meta)


# ------------------------------------------------- AIST++ / EDGE / Bailando
AISTPP_FPS = 60.0  # AIST++'s motion rate (its API's load_frames default; EDGE's raw_fps)
EDGE_FPS = 30.0  # EDGE's generated motions (its data_fps)


def _is_aistpp(obj):
    return isinstance(obj, Mapping) and "smpl_poses" in obj and "smpl_trans" in obj


def _read_aistpp(obj, track, src):
    """AIST++ motions (and EDGE / Bailando files in its layout): ``smpl_poses``
    (T, 72) axis-angle, ``smpl_trans`` (T, 3).

    With ``smpl_scaling`` (AIST++'s own files): the body was fitted at that
    scale and in centimetres (world = scaling * body + smpl_trans), so the
    translation of the body at SMPL's own size, in metres, is smpl_trans /
    smpl_scaling, as the AIST++ tools divide it; 60 fps, y up. Without it
    (EDGE's outputs, already divided): metres, 30 fps, z up.
    """
    rotations, aa = _rotations24(obj["smpl_poses"], src, "smpl_poses")
    trans = numeric(obj["smpl_trans"], src, "smpl_trans")
    scaled = "smpl_scaling" in obj
    if scaled:
        scale = numeric(obj["smpl_scaling"], src, "smpl_scaling").reshape(-1)
        if scale.size != 1 or not np.isfinite(scale[0]) or scale[0] <= 0:
            raise BadInputError(src, f"smpl_scaling must be one positive number, got {scale[:4]}")
        trans = trans / scale[0]
    extras, dropped = collect_extras(obj, {"smpl_poses", "smpl_trans"})
    meta = _meta(extras, dropped, True, False, None, "Y" if scaled else "Z")
    return _new_motion(rotations, aa, trans, AISTPP_FPS if scaled else EDGE_FPS, meta=meta)


# ------------------------------------------------------------------ GLAMR
def _glamr_people(obj):
    people = obj.get("person_data") if isinstance(obj, Mapping) else None
    if isinstance(people, Mapping) and people and all(isinstance(p, Mapping) and "smpl_pose" in p for p in people.values()):
        return people
    return None


def _glamr_tracks(obj):
    return [(pid, (_shape(p["smpl_pose"]) or (0,))[0]) for pid, p in _glamr_people(obj).items()]


def _read_glamr(obj, track, src):
    """GLAMR ``<seq>_seed<n>.pkl``: per person ``smpl_pose`` (T, 69) body,
    ``smpl_orient_world`` (T, 3) root, ``root_trans_world`` (T, 3) pelvis
    position, world frame z up; ``smpl_beta`` (T, 10). The camera-frame pair
    (``smpl_orient_cam``, ``root_trans_cam``) is used only without the world one.

    GLAMR places the pelvis, SMPL's ``transl`` moves the body from its rest
    pose, so trans = pelvis - the rest pelvis (the neutral body's, which
    differs from the subject's by millimetres to a centimetre or two).
    """
    person = _glamr_people(obj)[track]
    world = "smpl_orient_world" in person and "root_trans_world" in person
    orient, pelvis = ("smpl_orient_world", "root_trans_world") if world else ("smpl_orient_cam", "root_trans_cam")
    rotations, aa = body_rotations(person[orient], person["smpl_pose"], src,
                                   f"person {track} {orient}", f"person {track} smpl_pose")
    trans = numeric(person[pelvis], src, f"person {track} {pelvis}") - NEUTRAL_REST_JOINTS[0]
    arrays = {k: v for k, v in person.items() if not isinstance(v, Mapping)}
    arrays.update({k: v for k, v in obj.items() if k != "person_data" and not isinstance(v, Mapping)})
    extras, dropped = collect_extras(arrays, {"smpl_pose", orient, pelvis, "smpl_beta"})
    dropped += [k for k, v in [*person.items(), *obj.items()] if isinstance(v, Mapping) and k != "person_data"]
    meta = _meta(extras, dropped, True, False, None, "Z" if world else "-Y")
    return _new_motion(rotations, aa, trans, DEFAULT_FPS, betas=betas10(person.get("smpl_beta"), src), meta=meta)


# ----------------------------------------------------- mmhuman3d HumanData
def _human_params(obj):
    """('smpl' or 'smplx', the parameter dict) of a HumanData file, else (None, None)."""
    if not isinstance(obj, Mapping):
        return None, None
    for key in ("smpl", "smplx"):
        params = dict_member(obj.get(key))
        if params and (("global_orient" in params and "body_pose" in params) or "fullpose" in params):
            return key, params
    return None, None


def _human_rows(obj):
    """Rows of the per-instance arrays (every row is one person in one image)."""
    _, params = _human_params(obj)
    return (_shape(params.get("fullpose", params.get("body_pose"))) or (0,))[0]


def _human_tracks(obj):
    ids = obj.get("person_id")
    if ids is None or len(_shape(ids)) != 1 or _shape(ids)[0] != _human_rows(obj):
        return []
    found, counts = np.unique(np.asarray(ids), return_counts=True)
    return [(tid, int(n)) for tid, n in zip(found.tolist(), counts, strict=True)]


def _read_humandata(obj, track, src):
    """mmhuman3d HumanData ``.npz`` (``HumanData.dump``: ``np.savez_compressed``):
    ``smpl`` = {global_orient (N, 3), body_pose (N, 23, 3), betas (N, 10),
    transl (N, 3) when fitted in the world} or ``smplx`` = {global_orient,
    body_pose (N, 21, 3), ...} or {fullpose (N, 55, 3), betas}. Several
    people are rows told apart by ``person_id`` (the tracks); each row's
    image is ``frame_id`` / ``image_path``. Per-row arrays are cut to the track."""
    key, params = _human_params(obj)
    rows = _human_rows(obj)
    ids = obj.get("person_id")
    sel = np.ones(rows, bool) if track is None else np.asarray(ids) == np.asarray(track, dtype=np.asarray(ids).dtype)

    def pick(value):
        return np.asarray(value)[sel] if value is not None and _shape(value)[:1] == (rows,) else value

    what = f"{key}.{{}}" + ("" if track is None else f" (person {track})")
    if "global_orient" in params and "body_pose" in params:
        rotations, aa = body_rotations(pick(params["global_orient"]), pick(params["body_pose"]), src,
                                       what.format("global_orient"), what.format("body_pose"))
        consumed = {f"{key}.{k}" for k in ("global_orient", "body_pose", "betas", "transl")}
    else:
        full = numeric(pick(params["fullpose"]), src, what.format("fullpose"))
        rotations, aa = _body22(full.reshape(len(full), -1), src, what.format("fullpose") + " (body joints)")
        consumed = {f"{key}.{k}" for k in ("fullpose", "betas", "transl")}
    trans, trans_assumed = trans_or_zeros(pick(params.get("transl")), len(rotations), src, what.format("transl"))
    per_row = {k: pick(v) for k, v in obj.items() if k != key}
    per_row[key] = {k: pick(v) for k, v in params.items()}
    extras, dropped = collect_extras(per_row, consumed)
    up = "-Y" if trans_assumed and "pred_cams" in obj else None  # estimator output: camera frame
    meta = _meta(extras, dropped, True, trans_assumed, None, up)
    return _new_motion(rotations, aa, trans, DEFAULT_FPS, betas=betas10(pick(params.get("betas")), src), meta=meta)


# ---------------------------------------------------------- pose / shape
def _is_pose_shape(obj):
    return (isinstance(obj, Mapping) and len(_shape(obj.get("pose"))) >= 2
            and not isinstance(obj.get("pose"), Mapping) and not _track_dicts(obj))


def _read_pose_shape(obj, track, src):
    """``pose`` (T, 72) + ``shape`` (T, 10) or (10,): MoSh fits as SPIN / VIBE
    dataset files keep them (``np.savez(..., pose=..., shape=...)``); optional
    ``trans`` or ``transl`` and a frame rate."""
    rotations, aa = _rotations24(obj["pose"], src, "pose")
    trans_key = "trans" if "trans" in obj else "transl"
    trans, trans_assumed = trans_or_zeros(obj.get(trans_key), len(rotations), src, trans_key)
    fps, fps_assumed, fps_key = read_fps(obj, src)
    shape_key = "shape" if "shape" in obj else "betas"
    gender = read_string(obj.get("gender"))
    consumed = {"pose", trans_key, shape_key, fps_key} | ({"gender"} if gender else set())
    extras, dropped = collect_extras(obj, consumed)
    meta = _meta(extras, dropped, fps_assumed, trans_assumed, gender, None)
    return _new_motion(rotations, aa, trans, fps, betas=betas10(obj.get(shape_key), src), meta=meta)


# ------------------------------------------------------------------ ROMP
def _romp_sequences(obj):
    """ROMP's video_results.npz: (sequence_results, results) dicts, else None."""
    if not isinstance(obj, Mapping) or "results" not in obj or "sequence_results" not in obj:
        return None
    seq, frames = dict_member(obj["sequence_results"]), dict_member(obj["results"])
    return None if seq is None or frames is None else (seq, frames)


def _romp_tracks(obj):
    seq, _ = _romp_sequences(obj)
    return [(tid, len(d.get("frame_id", ()))) for tid, d in seq.items() if isinstance(d, Mapping)]


def _read_romp(obj, track, src):
    """ROMP / simple_romp ``video_results.npz``: ``sequence_results`` =
    {track id: {frame_id, smpl_thetas, smpl_betas, cam_trans, ...: one entry
    per frame}} when ROMP tracked people (``--temporal_optimize``), and
    ``results`` = {frame image name: that frame's arrays, one row per
    person}. Rotations: ``smpl_thetas`` (72,) axis-angle; translation:
    ``cam_trans``, the camera-frame translation ROMP derives from its
    weak-perspective camera (y down). Without tracks, frames that each hold
    one person are read as one motion."""
    seq, frames = _romp_sequences(obj)
    if track is not None:
        rows = dict(seq[track])
    else:
        crowded = [name for name, f in frames.items() if _shape((dict_member(f) or {}).get("smpl_thetas"))[:1] != (1,)]
        if crowded or not frames:
            example = f" (e.g. {crowded[0]})" if crowded else ""
            raise BadInputError(src, f"ROMP results without track ids and {len(crowded)} frame(s) not holding exactly "
                                     f"one person{example}; ROMP tracks people only with --temporal_optimize")
        per_frame = [dict_member(f) for f in frames.values()]
        rows = {k: [f[k][0] for f in per_frame] for k in per_frame[0] if all(k in f for f in per_frame)}
        rows["frame_names"] = list(frames)
    stacked = {k: _stack_rows([{k: x} for x in v], k) if isinstance(v, list | tuple) else v for k, v in rows.items()}
    what = "smpl_thetas" + ("" if track is None else f" (track {track})")
    rotations, aa = _rotations24(stacked.get("smpl_thetas"), src, what)
    trans, trans_assumed = trans_or_zeros(stacked.get("cam_trans"), len(rotations), src, "cam_trans")
    kept = {k: v for k, v in stacked.items() if v is not None}
    extras, dropped = collect_extras(kept, {"smpl_thetas", "cam_trans", "smpl_betas"})
    dropped += [k for k, v in stacked.items() if v is None] + ["results"]
    meta = _meta(extras, dropped, True, trans_assumed, None, "-Y")
    return _new_motion(rotations, aa, trans, DEFAULT_FPS, betas=betas10(stacked.get("smpl_betas"), src), meta=meta)


# -------------------------------------------- what a refused file holds
_POSITION_JOINTS = {22: "22 joints (HumanML3D / text-to-motion)", 21: "21 joints (KIT-ML)", 17: "17 joints (Human3.6M)",
                    25: "25 joints", 52: "52 joints", 55: "55 joints", 127: "127 joints (SMPL-X)", 45: "45 joints"}


def _positions_hint(shape):
    """'holds joint positions ...' for array shapes that are positions, not rotations; else ''."""
    if len(shape) == 3 and shape[2] == 3 and shape[1] in _POSITION_JOINTS:
        return f"holds joint positions ({_POSITION_JOINTS[shape[1]]} x xyz per frame), not joint rotations"
    if len(shape) == 4 and shape[1:3] in ((22, 3), (21, 3)):  # MDM results.npy 'motion': (samples, joints, 3, frames)
        return f"holds joint positions (samples, {shape[1]} joints, xyz, frames: MDM-style results), not joint rotations"
    if len(shape) == 2 and shape[1] in (263, 251):
        return f"holds HumanML3D / KIT-ML motion features ({shape[1]} per frame), not joint rotations"
    return ""


def _describe_keys(obj):
    """'a, b (a dict: c, d), ...' naming what a mapping holds, one level into dicts."""
    parts = []
    for key in list(obj)[:12]:
        inner = dict_member(obj[key])
        shape = _shape(obj[key])
        if inner is not None:
            parts.append(f"{key} (a dict: {', '.join(map(str, list(inner)[:8]))}{' ...' if len(inner) > 8 else ''})")
        elif len(shape) >= 1:
            parts.append(f"{key} {tuple(shape)}")
        else:
            parts.append(str(key))
    return ", ".join(parts) + (" ..." if len(obj) > 12 else "")


def _refusal(obj):
    """Why a mapping no layout matched is not read: a known non-motion, or its keys."""
    for key, value in obj.items():
        hint = _positions_hint(_shape(value)) if isinstance(value, np.ndarray) and value.dtype != object else ""
        if hint:
            return f"{key} {hint}"
    if "smpl_thetas" in obj and ("cam" in obj or "center_confs" in obj):
        n = (_shape(obj["smpl_thetas"]) or (0,))[0]
        return (f"ROMP results of one image ({n} people: {_describe_keys(obj)}); a motion is in ROMP's "
                "video_results.npz (romp --mode=video)")
    return f"no SMPL motion keys found (keys: {_describe_keys(obj) or 'none'})"


# ------------------------------------------------------------------ shared
def _meta(extras, dropped, fps_assumed, trans_assumed, gender, up_axis):
    meta = {"extras": extras, "fps_assumed": bool(fps_assumed), "trans_assumed": bool(trans_assumed)}
    if dropped:
        meta["dropped_keys"] = sorted(dropped)
    if gender:
        meta["gender"] = gender
    if up_axis:
        meta["up_axis"] = up_axis
    return meta


# Order matters: the first layout that matches wins.
LAYOUTS = (
    Layout("gvhmr", "GVHMR hmr4d_results.pt: smpl_params_global (SMPL-X body, hands identity)", ("pt",),
           lambda o: _gvhmr_key(o) is not None, _read_gvhmr, _gvhmr_tracks),
    Layout("phalp", "4D-Humans / PHALP tracking results (joblib): per-frame rotation matrices, several tracks", ("pkl",),
           _is_phalp, _read_phalp, _phalp_tracks),
    Layout("wham", "WHAM output (joblib): world-frame pose_world/trans_world per track", ("pkl",),
           _is_wham, _read_wham, _pose_tracks),
    Layout("vibe", "VIBE / TCMR output (joblib): pose (T, 72) per track, no translation", ("pkl",),
           lambda o: _track_dicts(o) and not _is_wham(o), _read_vibe, _pose_tracks),
    Layout("glamr", "GLAMR global reconstruction (pickle): person_data, world-frame smpl_pose/smpl_orient_world/"
           "root_trans_world per person", ("pkl",), lambda o: _glamr_people(o) is not None, _read_glamr, _glamr_tracks),
    Layout("romp", "ROMP video_results.npz: sequence_results per track (smpl_thetas, cam_trans)", ("npz",),
           lambda o: _romp_sequences(o) is not None, _read_romp, _romp_tracks),
    Layout("humandata", "mmhuman3d HumanData .npz: smpl (or smplx) dict of global_orient, body_pose, betas, transl; "
           "tracks by person_id", ("npz",), lambda o: _human_params(o)[0] is not None, _read_humandata, _human_tracks),
    Layout("aistpp", "AIST++ / EDGE / Bailando: smpl_poses (T, 72), smpl_trans (cm, / smpl_scaling), 60 fps", ("pkl",),
           _is_aistpp, _read_aistpp),
    Layout("smplh", "AMASS SMPL-H .npz: poses (T, 156); body kept, SMPL hand joints identity", ("npz",),
           lambda o: _poses_width(o) == 156, _read_poses),
    Layout("smplx", "AMASS SMPL-X .npz: poses (T, 165); body kept, SMPL hand joints identity", ("npz",),
           lambda o: _poses_width(o) == 165, _read_poses),
    Layout("amass", "AMASS-style .npz: poses (T, 72), trans, betas, mocap_framerate (the interchange file)", ("npz",),
           lambda o: isinstance(o, Mapping) and "poses" in o, _read_poses),
    Layout("split", "split-key .npz: root_orient, pose_body, trans (AMASS-processed, HumanML3D)", ("npz",),
           lambda o: isinstance(o, Mapping) and "root_orient" in o and "pose_body" in o, _read_split),
    Layout("pose_shape", "pose (T, 72) + shape: MoSh fits as SPIN / VIBE dataset files keep them", ("npz",),
           _is_pose_shape, _read_pose_shape),
    Layout("array", f"one plain array (.npy, or an .npz holding only it): {_ARRAY_SHAPES}", ("npy", "npz"),
           lambda o: _single_array(o) is not None, _read_array),
)


def detect(obj, src):
    """The first Layout matching ``obj``; BadInputError saying what the file holds otherwise."""
    for layout in LAYOUTS:
        if layout.matches(obj):
            return layout
    if isinstance(obj, Mapping):
        raise BadInputError(src, f"unknown format: {_refusal(obj)}")
    raise BadInputError(src, f"unknown format: the file holds a {type(obj).__name__}, not SMPL motion data")
