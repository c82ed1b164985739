"""Feet that stay planted: contact detection, the floor and foot locking (no bpy).

Everything works in the motion's world space (FK with the root translation)
with the file's up axis (``meta["up_axis"]``, Y when unknown). A foot is two
joints, the ankle and SMPL's ``foot`` (the toe base); contacts are per joint,
columns ordered as ``FOOT_JOINTS``.

- Labels (``label_contacts``, for scoring and for tuning the detector) come
  from clean mocap: a joint is planted where its speed is under LABEL_SPEED
  and its height above the floor under LABEL_HEIGHT.
- Detection (``detect_contacts``) runs on a refined, still noisy motion: the
  same two thresholds on lightly smoothed positions, with hysteresis (a contact
  starts under the thresholds and lasts while under 1.5 times them), short
  gaps filled and contacts shorter than the minimum lock time dropped.
- Locking (``lock_feet``): each contact segment, trimmed to the frames where
  the foot is down, gets one world target (the segment's mean horizontal
  position, at its own height between half and all of the joint's standing
  clearance above the floor; a toe locked with its ankle on the sphere of the
  foot's length around the ankle's target). The root translation takes most
  of the correction (it is invisible to pelvis-aligned pose metrics and bends
  no joint), and over a planted foot the root's own jitter is smoothed out;
  a free foot keeps its height through the root's rise or fall. Two-bone IK
  on hip and knee takes the rest (double support, toe-only contacts) and the
  root moves further where a leg cannot reach. The ankle keeps its world
  orientation, turned only as far as aiming at a planted toe needs. Locks ease
  in and out over ``recovery_frames`` with a smoothstep; away from contacts no
  foot joint is left below the floor.
"""
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_closing, binary_opening, gaussian_filter1d, grey_dilation, label
from scipy.signal import savgol_filter
from scipy.spatial.transform import Rotation

from .errors import BadInputError
from .kinematics import fk_globals
from .metrics import contact_scores, foot_sliding, ground_penetration
from .motion import UP_AXES, Motion, up_direction
from .params import Param, check_params, parse_params
from .rotations import matrix_to_quat
from .skeleton import FOOT_JOINTS, JOINT_NAMES, LIMB_CHAINS

LEGS = (LIMB_CHAINS["left_leg"], LIMB_CHAINS["right_leg"])  # (hip, knee, ankle, toe) joint indices
FOOT_NAMES = tuple(JOINT_NAMES[j] for j in FOOT_JOINTS)
IS_TOE = np.array([False, True, False, True])
LEG_TREE = (0, *LEGS[0], *LEGS[1])  # the joints FK computes here (pelvis and legs)

# Clean-mocap contact labels: slower than this and lower than this above the floor.
LABEL_SPEED = 0.25  # m/s, 3D speed of the joint (central differences)
LABEL_HEIGHT = np.array([0.10, 0.05, 0.10, 0.05])  # m above the floor: ankle, toe, ankle, toe
FLOOR_PERCENTILE = 10  # of the lowest foot joint's height over slow frames (as train/data.level_floor)
PENETRATION_TOLERANCE = 0.005  # m: away from contacts, feet are lifted to at most this below the floor
# Smoothing (Gaussian sigma, frames) measured on the validation split: of the root
# correction, and of each leg's hip-to-target distance (see lock_feet).
ROOT_SIGMA = 2.0
LEG_LENGTH_SIGMA = 1.0
# Window (s) of the root's smoothing where a foot is planted (Savitzky-Golay, order 2):
# validation mild, hpr + lock, accel error +0.63 without it, about -0.05 with 0.3 s.
STANCE_WINDOW = 0.3
HOVER_MARGIN = 0.013  # m: a contact is locked from where the foot is within this of its held height
LOW_STANCE = 0.5  # a contact may be held this share of the usual standing height lower, not more
SINK_EASE_SPEED = 1.5  # m/s: how fast the lift out of the floor eases off (5 cm a frame at 30 fps)



@dataclass(frozen=True)
class FeetParams:
    """Foot-lock parameters (``--feet-param key=value``)."""

    speed: float = 0.25  # m/s: a joint slower than this may be planted (hysteresis: leaves above 1.5x)
    height: float = 1.0  # scale of the contact heights above the floor (ankle 10 cm, toe 5 cm)
    min_lock_time: float = 0.1  # s: shorter contacts are not locked
    lock_radius: float = 0.1  # m: a planted joint drifting further from its lock point starts a new lock
    recovery_frames: int = 3  # frames the lock eases in before and out after a contact
    floor: float | None = None  # floor height along the up axis (m); None: estimated from the planted frames
    smooth_frames: float = 2.0  # Gaussian sigma (frames) of the positions the detector reads
    up_axis: str | None = None  # "Y", "-Y", "Z", ...: the world's up in the motion's frame; None: meta["up_axis"]

    def lock_frames(self, fps: float) -> int:
        """The minimum lock time in frames at ``fps`` (at least 1)."""
        return max(1, int(round(self.min_lock_time * fps)))


# What a user may set, checked as the methods' parameters are (refine_core.params).
FEET_PARAMS = (
    Param("speed", float, FeetParams.speed, 0.01, 10.0, "m/s: a joint slower than this may be planted"),
    Param("height", float, FeetParams.height, 0.1, 10.0, "scale of the contact heights (ankle 10 cm, toe 5 cm)"),
    Param("min_lock_time", float, FeetParams.min_lock_time, 0.0, 10.0, "s: shorter contacts are not locked"),
    Param("lock_radius", float, FeetParams.lock_radius, 0.001, 10.0, "m: drifting further starts a new lock"),
    Param("recovery_frames", int, FeetParams.recovery_frames, 0, 100, "frames the lock eases in and out"),
    Param("floor", float, FeetParams.floor, -1e4, 1e4, "floor height along the up axis (m); default: estimated"),
    Param("smooth_frames", float, FeetParams.smooth_frames, 0.0, 30.0, "Gaussian sigma (frames) the detector reads"),
)


def feet_params(values=None) -> FeetParams:
    """FeetParams from overrides (a dict, ``k=v`` strings or a JSON object);
    BadInputError names an unknown or bad key. ``up_axis`` is one of UP_AXES."""
    given = parse_params(values)
    up = given.pop("up_axis", None)
    if up is not None and str(up).strip().upper().lstrip("+") not in UP_AXES:
        raise BadInputError(f"--feet-param up_axis={up}", f"up_axis must be one of: {', '.join(UP_AXES)}")
    return FeetParams(**check_params("feet lock", FEET_PARAMS, given), up_axis=up)


def up_vector(motion: Motion, params: FeetParams | None = None) -> np.ndarray:
    """(3,) unit up direction of the motion's world: ``params.up_axis``, else
    ``meta["up_axis"]``, else Y."""
    return up_direction((params.up_axis if params is not None and params.up_axis else None) or motion.meta.get("up_axis"))


def foot_tracks(joints: np.ndarray, up: np.ndarray, fps: float, smooth: float = 0.0):
    """Foot joints of (T, 24, 3) world joints: positions (T, 4, 3), heights
    along ``up`` (T, 4) and speeds (T, 4) m/s, optionally from positions
    smoothed by a Gaussian of ``smooth`` frames."""
    pos = np.asarray(joints, dtype=np.float64)[:, FOOT_JOINTS]
    if smooth > 0 and len(pos) > 1:
        pos = gaussian_filter1d(pos, smooth, axis=0, mode="nearest")
    speed = np.linalg.norm(np.gradient(pos, axis=0), axis=-1) * fps if len(pos) > 1 else np.zeros(pos.shape[:2])
    return pos, pos @ up, speed


def estimate_floor(heights: np.ndarray, speeds: np.ndarray, speed: float = LABEL_SPEED) -> float:
    """Floor height: the FLOOR_PERCENTILE-th percentile of the lowest foot
    joint's height over frames where it is slower than ``speed`` (on raised
    ground, the lowest level stood on); the 5th percentile of all frames when
    none is that slow."""
    low = np.argmin(heights, axis=1)
    t = np.arange(len(heights))
    h, v = heights[t, low], speeds[t, low]
    slow = v < speed
    return float(np.percentile(h[slow], FLOOR_PERCENTILE) if slow.sum() >= 3 else np.percentile(h, 5))


def label_contacts(motion: Motion, floor: float | None = None, joints: np.ndarray | None = None):
    """Planted joints of clean mocap: ((T, 4) bool, floor height); planted
    means speed < LABEL_SPEED and height above the floor < LABEL_HEIGHT
    (floor None: estimated). ``joints``: the motion's FK joints if at hand."""
    joints = motion.joints() if joints is None else joints
    _, h, v = foot_tracks(joints, up_vector(motion), motion.fps)
    floor = estimate_floor(h, v) if floor is None else float(floor)
    return (v < LABEL_SPEED) & (h - floor < LABEL_HEIGHT), floor


def _clean_runs(mask: np.ndarray, gap: int, min_len: int) -> np.ndarray:
    """Fill False gaps up to ``gap`` frames, then drop True runs shorter than
    ``min_len``; per column of a (T, C) mask. Edge-padded so runs touching the
    ends are treated like the others."""
    pad = max(gap, min_len, 1)
    m = np.pad(mask, ((pad, pad), (0, 0)), mode="edge")
    if gap > 0:
        m = binary_closing(m, structure=np.ones((gap + 1, 1), bool))
    if min_len > 1:
        m = binary_opening(m, structure=np.ones((min_len, 1), bool))
    return m[pad:-pad]


def flight_phases(contacts: np.ndarray, min_len: int) -> np.ndarray:
    """(T,) frames of the runs of at least ``min_len`` frames in which no foot
    joint of (T, 4) ``contacts`` is planted (a shorter gap between labels is
    not a flight)."""
    return _clean_runs(~contacts.any(axis=1)[:, None], gap=0, min_len=min_len)[:, 0]


def detect_contacts(motion: Motion, params: FeetParams | None = None, joints: np.ndarray | None = None):
    """Planted foot joints of a (noisy) motion: ((T, 4) bool, floor height).

    ``joints``: the motion's (T, 24, 3) FK joints when already computed.
    """
    p = params or FeetParams()
    joints = fk_globals(motion.rotations, motion.trans, motion.skeleton.rest_joints, LEG_TREE)[0] if joints is None else joints
    _, h, v = foot_tracks(joints, up_vector(motion, p), motion.fps, p.smooth_frames)
    floor = estimate_floor(h, v, p.speed) if p.floor is None else float(p.floor)
    above = h - floor
    limit = LABEL_HEIGHT * p.height
    strong = (v < p.speed) & (above < limit)
    weak = (v < 1.5 * p.speed) & (above < 1.5 * limit)
    contacts = np.zeros_like(weak)
    for c in range(weak.shape[1]):  # hysteresis: keep the weak runs that hold a strong frame
        runs, n = label(weak[:, c])
        held = np.bincount(runs[strong[:, c]], minlength=n + 1) > 0
        held[0] = False
        contacts[:, c] = held[runs]
    return _clean_runs(contacts, gap=2, min_len=p.lock_frames(motion.fps)), floor


def contact_segments(contacts: np.ndarray) -> list:
    """Per column of a (T, C) contact mask, the runs as inclusive (start, end) frame pairs."""
    out = []
    for c in range(contacts.shape[1]):
        edges = np.diff(np.concatenate([[0], contacts[:, c].astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
        out.append(list(zip(starts.tolist(), ends.tolist(), strict=True)))
    return out


def _split_by_radius(pos: np.ndarray, start: int, end: int, radius: float, gap: int):
    """Split one contact run where the joint drifts more than ``radius`` from
    where its current lock began (sliding on purpose): [(start, end), ...],
    leaving ``gap`` released frames after each split."""
    pieces = []
    while start <= end:
        drift = np.linalg.norm(pos[start:end + 1] - pos[start], axis=-1)
        over = np.flatnonzero(drift > radius)
        if not len(over):
            pieces.append((start, end))
            break
        pieces.append((start, start + over[0] - 1))
        start = start + over[0] + gap
    return pieces


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _planted_runs(height, runs, floor_h, level, min_len):
    """Contact runs of one foot joint, each trimmed to the frames where the foot
    is down, with the height it is held at: [(start, end, height), ...].

    A run is held at its own median height, but no higher than ``level`` (the
    usual standing height) and no lower than LOW_STANCE of the way from the
    floor to it: a foot planted lower than usual is not lifted (a raise showed
    as a foot lifted in a climb's flight). Its first and last frames are
    dropped while the foot is still more than HOVER_MARGIN above that height
    (a refined landing arriving late, a take-off leaving early), so the ease
    towards the lock does not pull a foot in flight down; a run left shorter
    than ``min_len`` is not locked.
    """
    out = []
    for s, e in runs:
        for _ in range(2):  # the height from the trimmed run, once more
            held = float(np.clip(np.median(height[s:e + 1]), floor_h + LOW_STANCE * (level - floor_h), level))
            down = np.flatnonzero(height[s:e + 1] - held <= HOVER_MARGIN)
            if not len(down):
                break
            s, e = s + down[0], s + down[-1]
        if len(down) and e - s + 1 >= min_len:
            out.append((s, e, held))
    return out


def _lock_points(pos, horizontal, contacts, floor_h, clearance, up, params: FeetParams, min_len: int):
    """Per foot joint column, its locks: (starts, ends, (n, 3) lock points) or None."""
    locks = []
    for c in range(contacts.shape[1]):
        runs = _planted_runs(pos[:, c] @ up, contact_segments(contacts[:, c:c + 1])[0], floor_h,
                             floor_h + clearance[c], min_len)
        segs = [(a, b, held) for s, e, held in runs
                for a, b in _split_by_radius(horizontal[:, c], s, e, params.lock_radius, params.recovery_frames)]
        if not segs:
            locks.append(None)
            continue
        starts, ends, levels = (np.array(x) for x in zip(*segs, strict=True))
        csum = np.concatenate([np.zeros((1, 3)), np.cumsum(horizontal[:, c], axis=0)])
        locks.append((starts, ends, (csum[ends + 1] - csum[starts]) / (ends - starts + 1)[:, None] + up * levels[:, None]))
    # A toe locked while its ankle is has its point on the sphere of the foot's length
    # around the ankle's: two locks one rigid foot can hold at once.
    for ankle, toe in ((0, 1), (2, 3)):
        if locks[ankle] is None or locks[toe] is None:
            continue
        a_start, a_end, a_points = locks[ankle]
        t_start, t_end, t_points = locks[toe]
        length = np.linalg.norm(pos[0, toe] - pos[0, ankle])
        overlap = np.minimum(t_end[:, None], a_end[None]) - np.maximum(t_start[:, None], a_start[None]) + 1  # (toe, ankle)
        for i in np.flatnonzero(overlap.max(axis=1) > 0):
            centre = a_points[np.argmax(overlap[i])]
            arm = t_points[i] - centre
            t_points[i] = centre + arm * length / max(np.linalg.norm(arm), 1e-9)
    return locks


def _lock_offsets(pos, horizontal, contacts, floor_h, clearance, up, params: FeetParams, min_len: int):
    """Per foot joint, the world offset to its lock target (T, 4, 3; between
    two locks a blend of both), the eased lock weight (T, 4) in [0, 1] and the
    (T, 4) contacts locked (see _planted_runs and _lock_points)."""
    n_frames, n_cols = contacts.shape
    offsets = np.zeros((n_frames, n_cols, 3))
    weights = np.zeros((n_frames, n_cols))
    locked = np.zeros_like(contacts)
    t = np.arange(n_frames)
    ramp = params.recovery_frames + 1
    for c, lock in enumerate(_lock_points(pos, horizontal, contacts, floor_h, clearance, up, params, min_len)):
        if lock is None:
            continue
        starts, ends, targets = lock
        seg_id = np.full(n_frames, -1)
        seg_id[np.concatenate([np.arange(s, e + 1) for s, e in zip(starts, ends, strict=True)])] = \
            np.repeat(np.arange(len(starts)), ends - starts + 1)
        inside = seg_id >= 0
        locked[:, c] = inside
        prev = np.maximum.accumulate(np.where(inside, t, -1))
        nxt = np.minimum.accumulate(np.where(inside, t, n_frames)[::-1])[::-1]
        total = np.zeros(n_frames)
        acc = np.zeros((n_frames, 3))
        for near, dist in ((prev, t - prev), (nxt, nxt - t)):
            ok = (near >= 0) & (near < n_frames)
            w = np.where(ok, _smoothstep(1.0 - dist / ramp), 0.0)
            tgt = targets[seg_id[np.clip(near, 0, n_frames - 1)]]
            acc += w[:, None] * (tgt - pos[:, c])
            total += w
        offsets[:, c] = acc / np.where(total > 0, total, 1.0)[:, None]
        weights[:, c] = np.minimum(total, 1.0)
    return offsets, weights, locked


def stance_smoothed(trans: np.ndarray, fps: float) -> np.ndarray:
    """(T, 3) root translation through a Savitzky-Golay filter of STANCE_WINDOW
    seconds, order 2 (keeps a walk's bob, takes out frame-to-frame jitter)."""
    window = min(2 * int(round(STANCE_WINDOW * fps / 2)) + 1, len(trans) - (len(trans) + 1) % 2)
    return savgol_filter(trans, window, 2, axis=0, mode="interp") if window > 2 else trans.copy()


def _rotation_between(a, b):
    """(N, 3, 3) shortest-arc rotations taking directions a to b (N, 3)."""
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    angle = np.arctan2(s, np.einsum("ni,ni->n", a, b))
    rotvec = np.where(s[:, None] > 1e-12, axis / np.maximum(s, 1e-12)[:, None] * angle[:, None], 0.0)
    return Rotation.from_rotvec(rotvec).as_matrix()


def two_bone_ik(hip, knee, ankle, target, g_hip, g_knee):
    """Analytic two-bone IK: world rotations (N, 3, 3) to apply to the hip's
    and the knee's global rotations so the ankle reaches ``target`` (clamped
    to the leg's reach). All inputs (N, 3) positions or (N, 3, 3) globals.
    The knee bends in the plane it bends in now (its own x axis, SMPL's
    flexion axis, when the leg is straight)."""
    thigh, shank = knee - hip, ankle - knee
    l1, l2 = np.linalg.norm(thigh, axis=-1), np.linalg.norm(shank, axis=-1)
    to_target = target - hip
    dist = np.clip(np.linalg.norm(to_target, axis=-1), np.abs(l1 - l2) + 1e-6, (l1 + l2) * (1 - 1e-6))
    u, v = -thigh, shank
    cos_now = np.einsum("ni,ni->n", u, v) / (l1 * l2)
    cos_new = (l1**2 + l2**2 - dist**2) / (2 * l1 * l2)
    delta = np.arccos(np.clip(cos_new, -1, 1)) - np.arccos(np.clip(cos_now, -1, 1))
    axis = np.cross(u, v)
    norm = np.linalg.norm(axis, axis=-1)
    straight = norm < 1e-6 * l1 * l2
    axis = np.where(straight[:, None], -g_knee[:, :, 0], axis / np.where(straight, 1.0, norm)[:, None])
    r_knee = Rotation.from_rotvec(axis * delta[:, None]).as_matrix()
    new_ankle = knee + np.einsum("nij,nj->ni", r_knee, shank)
    r_hip = _rotation_between(new_ankle - hip, to_target)
    return r_hip, r_knee


def _align_sign(q, ref):
    """Quaternions q (..., 4) with the sign of ``ref``'s hemisphere."""
    return np.where(np.sum(q * ref, axis=-1, keepdims=True) < 0, -q, q)


def lock_feet(motion: Motion, params: FeetParams | None = None) -> Motion:
    """``motion`` with its planted feet held still on the floor.

    Returns a new Motion (rotations of hips, knees and ankles and the root
    translation changed near contacts; nothing else); ``meta["foot_contacts"]``
    holds the detected (T, 4) contacts and ``meta["floor"]`` the floor height.
    """
    p = params or FeetParams()
    up = up_vector(motion, p)
    rest = motion.skeleton.rest_joints
    pos, glob = fk_globals(motion.rotations, motion.trans, rest, LEG_TREE)
    contacts, floor_h = detect_contacts(motion, p, joints=pos)
    feet, heights, _ = foot_tracks(pos, up, motion.fps)
    horizontal = feet - heights[..., None] * up
    # Standing clearance of each joint kind above the floor: its median over contacts.
    clearance = np.zeros(4)
    for toe in (False, True):
        cols = IS_TOE == toe
        h = (heights[:, cols] - floor_h)[contacts[:, cols]]
        clearance[cols] = float(np.clip(np.median(h), 0.0, LABEL_HEIGHT[cols][0])) if h.size else 0.0
    offsets, weights, contacts = _lock_offsets(feet, horizontal, contacts, floor_h, clearance, up, p,
                                               p.lock_frames(motion.fps))

    # Ankle offsets: the ankle's own lock, else where a planted toe puts it (orientation kept).
    w_ankle, w_toe = weights[:, 0::2], weights[:, 1::2]  # (T, 2)
    ankles, toes = feet[:, 0::2], feet[:, 1::2]
    foot_len = np.linalg.norm(toes - ankles, axis=-1)[..., None]
    foot_w = np.maximum(w_ankle, w_toe)
    ankle_off = (w_ankle[..., None] * offsets[:, 0::2] + ((1 - w_ankle) * w_toe)[..., None] * offsets[:, 1::2]) \
        / np.maximum(foot_w, 1e-9)[..., None]
    # The root takes the weighted mean correction of the planted feet (smoothed a little)...
    correction = np.einsum("tf,tfi->ti", foot_w, ankle_off) / np.maximum(foot_w.sum(axis=1), 1.0)[:, None]
    root = correction
    if len(root) > 1:
        correction = gaussian_filter1d(correction, ROOT_SIGMA, axis=0, mode="nearest")
        # ... and where a foot is planted the body moves smoothly over it: the root's own
        # jitter is taken out there, else the legs would take it up under a held foot.
        stance = foot_w.max(axis=1)[:, None]
        root = correction + stance * (stance_smoothed(motion.trans, motion.fps) - motion.trans)
    # ... and each foot blends from moving with the body to its lock by its weight. A free
    # foot keeps its height through the correction's rise or fall (a planted foot lifted
    # out of the floor otherwise lifted the swinging one, 4.6 cm in a jump's landing).
    rise = (correction @ up)[:, None] * (1 - foot_w)  # (T, 2)
    targets = ankles + root[:, None] + foot_w[..., None] * (ankle_off - root[:, None]) - rise[..., None] * up
    kept = targets + (toes - ankles)  # the toe where the ankle's orientation puts it
    toe_targets = kept + w_toe[..., None] * (toes + offsets[:, 1::2] - kept)
    # Away from contacts, lift a foot whose joints would sink below the floor.
    lowest = np.minimum(targets @ up, toe_targets @ up)
    sink = np.maximum(floor_h - PENETRATION_TOLERANCE - lowest, 0.0) * (foot_w < 1)
    if sink.any():
        # The lift's upper envelope falling at SINK_EASE_SPEED: never less than the
        # depth (no penetration), continuous, and gone as soon as a rising foot is
        # out (a wider smoothing held a jump's foot up into its flight).
        reach = int(np.ceil(sink.max() / (SINK_EASE_SPEED / motion.fps)))
        cone = -np.abs(np.arange(-reach, reach + 1))[:, None] * (SINK_EASE_SPEED / motion.fps)
        sink = grey_dilation(sink, structure=cone, mode="nearest")
        sink = np.where(sink > 1e-5, sink, 0.0)
        targets = targets + sink[..., None] * up
        toe_targets = toe_targets + sink[..., None] * up
        foot_w = np.maximum(foot_w, (sink > 0).astype(float))
    # Where a leg cannot reach its target from the moved hip, the root moves further.
    for f, (hip_j, knee_j, ankle_j, _) in enumerate(LEGS):
        bones = np.linalg.norm(pos[:, [knee_j, ankle_j]] - pos[:, [hip_j, knee_j]], axis=-1)
        reach = 0.999 * bones.sum(axis=1)
        gap = targets[:, f] - (pos[:, hip_j] + root)
        dist = np.linalg.norm(gap, axis=-1)
        short = (dist > reach) & (foot_w[:, f] >= 1)  # easing out, a foot lets go instead
        root[short] += gap[short] * ((dist[short] - reach[short]) / dist[short])[:, None]

    # A nearly straight leg turns a small change of its length into a large knee
    # swing, so the hip-to-target distance is low-passed in time (its direction is not).
    if len(root) > 1:
        for f, (hip_j, *_rest) in enumerate(LEGS):
            reach_vec = targets[:, f] - (pos[:, hip_j] + root)
            dist = np.linalg.norm(reach_vec, axis=-1)
            # As far as the foot is locked: a free leg's length is the motion's own.
            smooth = dist + foot_w[:, f] * (gaussian_filter1d(dist, LEG_LENGTH_SIGMA, mode="nearest") - dist)
            targets[:, f] = pos[:, hip_j] + root + reach_vec * (smooth / np.maximum(dist, 1e-9))[:, None]
    # A toe planted more firmly than its ankle (a heel lifting, a toe-only contact) pins
    # the ankle to the sphere of the foot's length around it, so the ankle's aim puts
    # the toe exactly on its lock whatever the ankle's own ease.
    arm = targets - toe_targets
    pinned = toe_targets + arm * foot_len / np.maximum(np.linalg.norm(arm, axis=-1, keepdims=True), 1e-9)
    targets = targets + np.clip(w_toe - w_ankle, 0.0, 1.0)[..., None] * (pinned - targets)
    rotations = motion.rotations.copy()
    for f, (hip_j, knee_j, ankle_j, _) in enumerate(LEGS):
        rows = np.flatnonzero((foot_w[:, f] > 0) | (np.abs(rise[:, f]) > 1e-6))
        if not len(rows):
            continue
        d = root[rows]
        r_hip, r_knee = two_bone_ik(pos[rows, hip_j] + d, pos[rows, knee_j] + d, pos[rows, ankle_j] + d,
                                    targets[rows, f], glob[rows, hip_j], glob[rows, knee_j])
        g_hip = r_hip @ glob[rows, hip_j]
        g_knee = r_hip @ r_knee @ glob[rows, knee_j]
        # The ankle keeps its world orientation, turned to aim at its planted toe.
        toe_dir = toes[rows, f] - ankles[rows, f]
        aim = _rotation_between(toe_dir, toe_targets[rows, f] - targets[rows, f])
        g_ankle = aim @ glob[rows, ankle_j]
        g_pelvis = glob[rows, 0]
        local = {
            hip_j: np.swapaxes(g_pelvis, 1, 2) @ g_hip,
            knee_j: np.swapaxes(g_hip, 1, 2) @ g_knee,
            ankle_j: np.swapaxes(g_knee, 1, 2) @ g_ankle,
        }
        for j, mat in local.items():
            rotations[rows, j] = _align_sign(matrix_to_quat(mat), motion.rotations[rows, j])
    meta = dict(motion.meta, foot_contacts=contacts, floor=floor_h)
    return motion.replace(rotations=rotations, trans=motion.trans + root, meta=meta)


FEET_MODES = ("off", "lock")


def segments_by_joint(contacts: np.ndarray, offset: int = 0, start: int = 0, end: int | None = None) -> dict:
    """{foot joint name: [[first, last], ...]} contact runs of (T, 4) ``contacts``
    shifted by ``offset`` rows and clipped to rows start..end (JSON-friendly)."""
    end = offset + len(contacts) - 1 if end is None else end
    out = {}
    for name, runs in zip(FOOT_NAMES, contact_segments(contacts), strict=True):
        clipped = [[max(s + offset, start), min(e + offset, end)] for s, e in runs]
        out[name] = [[int(s), int(e)] for s, e in clipped if s <= e]
    return out


def check_feet(mode: str, values: dict | None = None) -> FeetParams | None:
    """Validate a ``--feet`` mode and its parameters: FeetParams for "lock",
    None for "off" (then the parameters are not used)."""
    if mode not in FEET_MODES:
        raise BadInputError(f"--feet {mode}", f"choose one of: {', '.join(FEET_MODES)}")
    return feet_params(values) if mode == "lock" else None


def feet_metrics(pred, gt, contacts=None) -> dict:
    """Foot metrics of Motion ``pred`` against clean Motion ``gt``: ``foot_sliding``
    (mm/frame on gt's labelled contacts), ``penetration`` (share of frames) and
    ``penetration_depth`` (mm) below gt's floor, and contact precision/recall/F1
    of ``contacts`` ((T, 4), default: refine_core.feet.detect_contacts on pred)
    against gt's labels."""
    if pred.num_frames != gt.num_frames:
        raise BadInputError("prediction vs ground truth", f"frame counts differ: {pred.num_frames} vs {gt.num_frames}")
    up = up_vector(gt)
    pj = pred.joints()
    labels, floor = label_contacts(gt)
    if contacts is None:
        contacts = detect_contacts(pred, joints=pj)[0]
    share, depth = ground_penetration(pj, floor, up)
    return {"foot_sliding": foot_sliding(pj, labels, up), "penetration": share, "penetration_depth": depth,
            **contact_scores(contacts, labels)}
