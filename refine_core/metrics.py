"""Motion quality metrics (docs/architecture.md, "Metrics").

Conventions: joint arrays are (T, J, 3) in METRES (J = 24 for SMPL joints from
``Motion.joints()``); results are in millimetres unless stated. Every joint
metric is computed on pelvis-aligned joints (joint 0 subtracted per frame), as
VIBE's evaluation does, so a global translation error is invisible to them.
``mask`` is an optional (T,) boolean array of the frames to count (True =
counted), as VIBE's ``vis``.
"""
import numpy as np
from numpy.typing import ArrayLike

from .errors import BadInputError
from .skeleton import FOOT_JOINTS

M_TO_MM = 1000.0


def _as_joints(x, name="joints"):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise BadInputError(name, f"joint array has shape {x.shape}, expected (T, J, 3)")
    return x


def _pair(pred, gt):
    pred, gt = _as_joints(pred, "prediction"), _as_joints(gt, "ground truth")
    if pred.shape != gt.shape:
        raise BadInputError("prediction vs ground truth", f"joint arrays differ in shape: {pred.shape} vs {gt.shape}")
    return pred, gt


def _mask(mask, num_frames):
    """(T,) bool, or None -> all frames."""
    if mask is None:
        return np.ones(num_frames, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (num_frames,):
        raise BadInputError("mask", f"mask has shape {mask.shape}, expected ({num_frames},)")
    return mask


def _mean(values):
    """Mean, or NaN for no values (an all-False mask) without numpy's warning."""
    return float(np.mean(values)) if np.size(values) else float("nan")


def pelvis_aligned(joints: ArrayLike) -> np.ndarray:
    """(T, J, 3) -> (T, J, 3): joint 0 subtracted per frame."""
    joints = np.asarray(joints, dtype=np.float64)
    return joints - joints[:, :1]


def second_difference(x: ArrayLike) -> np.ndarray:
    """(T, ...) -> (T-2, ...): x[t] - 2 x[t+1] + x[t+2] (acceleration per frame^2)."""
    return x[:-2] - 2.0 * x[1:-1] + x[2:]


def mpjpe(pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Mean per-joint position error (mm) of pelvis-aligned joints.

    pred, gt: (T, J, 3) metres; mask: (T,) bool frames counted.
    """
    pred, gt = _pair(pred, gt)
    keep = _mask(mask, len(pred))
    err = np.linalg.norm(pelvis_aligned(pred) - pelvis_aligned(gt), axis=-1)  # (T, J)
    return _mean(err[keep]) * M_TO_MM


def procrustes_align(pred: ArrayLike, gt: ArrayLike) -> np.ndarray:
    """Per-frame similarity Procrustes: scale s, rotation R, translation t minimising
    |s R x + t - y| for each frame. pred, gt: (T, J, 3) -> aligned pred (T, J, 3).

    Same maths as SPIN/VIBE's ``compute_similarity_transform`` (Umeyama), but
    batched over frames with one numpy SVD call: scipy's
    ``orthogonal_procrustes`` and ``Rotation.align_vectors`` take one frame at
    a time, and no library does the batched similarity version.
    """
    mu_p = pred.mean(axis=1, keepdims=True)
    mu_g = gt.mean(axis=1, keepdims=True)
    xp, xg = pred - mu_p, gt - mu_g
    var_p = np.sum(xp ** 2, axis=(1, 2))  # (T,)
    k = np.einsum("tja,tjb->tab", xp, xg)  # (T, 3, 3) cross-covariance
    u, _, vt = np.linalg.svd(k)
    v = np.swapaxes(vt, -1, -2)
    # Reflection guard: flip the last singular direction where det(V U^T) < 0.
    z = np.tile(np.eye(3), (len(pred), 1, 1))
    z[:, 2, 2] = np.sign(np.linalg.det(v @ np.swapaxes(u, -1, -2)))
    rot = v @ z @ np.swapaxes(u, -1, -2)  # (T, 3, 3), acts on column vectors
    scale = np.einsum("tii->t", rot @ k) / np.maximum(var_p, 1e-12)
    return scale[:, None, None] * np.einsum("tab,tjb->tja", rot, xp) + mu_g


def pa_mpjpe(pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None = None) -> float:
    """MPJPE (mm) after per-frame similarity Procrustes alignment of pred to gt.

    pred, gt: (T, J, 3) metres; mask: (T,) bool frames counted.
    """
    pred, gt = _pair(pred, gt)
    keep = _mask(mask, len(pred))
    aligned = procrustes_align(pred[keep], gt[keep])
    return _mean(np.linalg.norm(aligned - gt[keep], axis=-1)) * M_TO_MM


def accel_error(pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Acceleration error (mm/frame^2) as VIBE's ``compute_error_accel``.

    Second difference of pred minus that of gt (pelvis-aligned), L2 per joint,
    mean over joints and the T-2 acceleration frames. With ``mask`` (VIBE's
    ``vis``), an acceleration frame is dropped when any of the three frames it
    spans is not counted. pred, gt: (T, J, 3) metres, T >= 3.
    """
    pred, gt = _pair(pred, gt)
    keep = _mask(mask, len(pred))
    if len(pred) < 3:
        return float("nan")
    diff = second_difference(pelvis_aligned(pred)) - second_difference(pelvis_aligned(gt))
    normed = np.linalg.norm(diff, axis=-1)  # (T-2, J)
    valid = keep[:-2] & keep[1:-1] & keep[2:]
    return _mean(normed[valid]) * M_TO_MM


def velocity_error(pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None = None) -> float:
    """Velocity error (mm/frame): first difference of pred minus that of gt
    (pelvis-aligned), L2 per joint, mean over joints and the T-1 velocity
    frames. Beside accel error it shows over-smoothing (a lagging or flattened
    motion) that acceleration alone rewards. With ``mask``, a velocity frame
    counts when both its frames do. pred, gt: (T, J, 3) metres, T >= 2.
    """
    pred, gt = _pair(pred, gt)
    keep = _mask(mask, len(pred))
    if len(pred) < 2:
        return float("nan")
    diff = np.diff(pelvis_aligned(pred), axis=0) - np.diff(pelvis_aligned(gt), axis=0)
    valid = keep[:-1] & keep[1:]
    return _mean(np.linalg.norm(diff, axis=-1)[valid]) * M_TO_MM


def root_error(pred: ArrayLike, gt: ArrayLike) -> float:
    """Mean distance (mm) of the world-space pelvis joint (joint 0, not aligned):
    what the pelvis-aligned metrics cannot see, the root translation's error
    (camera-space depth jitter, world-space drift). pred, gt: (T, J, 3) metres."""
    pred, gt = _pair(pred, gt)
    return _mean(np.linalg.norm(pred[:, 0] - gt[:, 0], axis=-1)) * M_TO_MM


def root_accel_error(pred: ArrayLike, gt: ArrayLike) -> float:
    """Acceleration error (mm/frame^2) of the world-space pelvis joint: the
    root's jitter. pred, gt: (T, J, 3) metres, T >= 3 (else NaN)."""
    pred, gt = _pair(pred, gt)
    if len(pred) < 3:
        return float("nan")
    return _mean(np.linalg.norm(second_difference(pred[:, 0]) - second_difference(gt[:, 0]), axis=-1)) * M_TO_MM


def per_frame_accel(joints: ArrayLike) -> np.ndarray:
    """(T, J, 3) metres -> (T,) mean joint acceleration norm per frame (mm/frame^2).

    Value t is the acceleration centred on frame t; the first and last frames
    copy their neighbours' values so a plot spans every frame. Fewer than 3
    frames have no acceleration: zeros.
    """
    joints = _as_joints(joints)
    if len(joints) < 3:
        return np.zeros(len(joints))
    acc = np.linalg.norm(second_difference(pelvis_aligned(joints)), axis=-1).mean(axis=1) * M_TO_MM
    return np.concatenate([acc[:1], acc, acc[-1:]])


def accel(pred: ArrayLike) -> float:
    """Mean acceleration norm (mm/frame^2) of pelvis-aligned joints, as VIBE's
    ``compute_accel`` averaged. pred: (T, J, 3) metres, T >= 3 (else NaN)."""
    pred = _as_joints(pred)
    if len(pred) < 3:
        return float("nan")
    return _mean(np.linalg.norm(second_difference(pelvis_aligned(pred)), axis=-1)) * M_TO_MM


def jitter(pred: ArrayLike, fps: float) -> float:
    """Mean jerk in m/s^3: norm of the third difference of pelvis-aligned joints
    times fps^3, averaged over joints and the T-3 frames (as in the
    world-motion papers, e.g. GLAMR, SLAHMR, which print it in 10 m/s^3).
    pred: (T, J, 3) metres, T >= 4 (else NaN)."""
    pred = _as_joints(pred)
    if len(pred) < 4:
        return float("nan")
    jerk = np.diff(pelvis_aligned(pred), n=3, axis=0)
    return _mean(np.linalg.norm(jerk, axis=-1)) * float(fps) ** 3


def mpve(pred_verts: ArrayLike, gt_verts: ArrayLike, pred_pelvis: ArrayLike | None = None,
         gt_pelvis: ArrayLike | None = None, mask: ArrayLike | None = None) -> float:
    """Mean per-vertex error (mm). pred_verts, gt_verts: (T, V, 3) metres.

    pred_pelvis, gt_pelvis: (T, 3) pelvis joints of the same body model; when
    given they are subtracted per frame (pelvis alignment, as the joint
    metrics). mask: (T,) bool frames counted.
    """
    pred, gt = _pair(pred_verts, gt_verts)
    if pred_pelvis is not None:
        pred = pred - np.asarray(pred_pelvis, dtype=np.float64)[:, None]
    if gt_pelvis is not None:
        gt = gt - np.asarray(gt_pelvis, dtype=np.float64)[:, None]
    keep = _mask(mask, len(pred))
    return _mean(np.linalg.norm(pred - gt, axis=-1)[keep]) * M_TO_MM


def evaluate(pred, gt, mask: ArrayLike | None = None) -> dict:
    """All joint metrics of Motion ``pred`` against Motion ``gt`` (joints by FK).

    Keys: ``mpjpe``, ``pa_mpjpe``, ``accel_error``, ``accel``,
    ``velocity_error`` (mm, mm/frame^2, mm/frame), ``jitter`` (m/s^3 at
    pred.fps), ``root_error`` and ``root_accel_error`` (the world-space
    pelvis, mm and mm/frame^2), all over every frame; with
    ``mask`` ((T,) bool marking e.g. the corrupted frames) also
    ``mpjpe_corrupted``: MPJPE over the masked frames only.
    Raises BadInputError when the frame counts differ.
    """
    if pred.num_frames != gt.num_frames:
        names = f"{pred.meta.get('source', 'prediction')} vs {gt.meta.get('source', 'ground truth')}"
        raise BadInputError(names, f"frame counts differ: {pred.num_frames} vs {gt.num_frames}")
    pj, gj = pred.joints(), gt.joints()
    out = {
        "mpjpe": mpjpe(pj, gj),
        "pa_mpjpe": pa_mpjpe(pj, gj),
        "accel_error": accel_error(pj, gj),
        "accel": accel(pj),
        "velocity_error": velocity_error(pj, gj),
        "jitter": jitter(pj, pred.fps),
        "root_error": root_error(pj, gj),
        "root_accel_error": root_accel_error(pj, gj),
    }
    if mask is not None:
        out["mpjpe_corrupted"] = mpjpe(pj, gj, mask=mask)
    return out


# ----------------------------------------------------------------- feet
# World-space metrics (no pelvis alignment) of skeleton.FOOT_JOINTS; refine_core.feet.feet_metrics gathers them.


def foot_sliding(joints, contacts, up=(0.0, 1.0, 0.0)) -> float:
    """Mean horizontal displacement (mm/frame) of each foot joint between
    frames t and t+1 where ``contacts`` (T, 4) (usually the clean motion's
    labels) has it planted on both. joints: (T, 24, 3) world, metres."""
    joints = _as_joints(joints)
    up = np.asarray(up, dtype=np.float64)
    pos = joints[:, FOOT_JOINTS]
    step = np.diff(pos, axis=0)
    step -= (step @ up)[..., None] * up
    planted = np.asarray(contacts, dtype=bool)
    both = planted[1:] & planted[:-1]
    return _mean(np.linalg.norm(step, axis=-1)[both]) * M_TO_MM


def ground_penetration(joints, floor: float = 0.0, up=(0.0, 1.0, 0.0), depth: float = 0.02):
    """(share of frames, mean depth mm) with a foot joint more than ``depth``
    metres below the floor; the depth is the lowest joint's, over those frames."""
    heights = _as_joints(joints)[:, FOOT_JOINTS] @ np.asarray(up, dtype=np.float64)
    below = floor - heights.min(axis=1)
    hit = below > depth
    return float(hit.mean()) if len(hit) else float("nan"), _mean(below[hit]) * M_TO_MM


def contact_scores(pred, true) -> dict:
    """Precision, recall and F1 of (T, C) predicted contacts against labels, over all cells."""
    pred, true = np.asarray(pred, dtype=bool), np.asarray(true, dtype=bool)
    hits = float(np.sum(pred & true))
    precision = hits / pred.sum() if pred.sum() else float("nan")
    recall = hits / true.sum() if true.sum() else float("nan")
    f1 = 2 * hits / (pred.sum() + true.sum()) if pred.sum() + true.sum() else float("nan")
    return {"contact_precision": precision, "contact_recall": recall, "contact_f1": f1}
