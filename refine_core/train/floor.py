"""Floor levelling and foot-contact numbers of a retargeted Motion.

Floor: y = 0 is the level of the lowest foot joint (ankle or SMPL ``foot``,
the toe base) while it stands on the ground, estimated per clip from the
frames where that joint is slow. A SMPL mesh would put its soles a few cm
below y = 0; joint-based metrics and contact labels do not care.
"""
import numpy as np
from scipy.spatial.transform import Rotation

from ..motion import Motion
from ..skeleton import JOINT_NAMES
from .augment import rotate

FOOT_JOINTS = tuple(JOINT_NAMES.index(n) for n in ("left_ankle", "right_ankle", "left_foot", "right_foot"))
CONTACT_SPEED = 0.25  # m/s: a foot joint slower than this may be standing
FLOOR_PERCENTILE = 10  # of the contact heights: on terrain, the lowest ground stood on
MAX_TILT_DEG = 3.0  # a steeper fitted ground is terrain, not a calibration tilt


def level_floor(motion: Motion, max_tilt_deg=MAX_TILT_DEG) -> Motion:
    """Put the ground the feet stand on at y = 0 and make it level.

    The ground is a plane fitted to the lowest foot joint over contact frames
    (slower than CONTACT_SPEED). A tilt up to ``max_tilt_deg`` is a capture
    calibration error (subject 007's walks all climb 1 degree along z: 3-4 cm
    over a clip) and the whole motion is turned to level it; a steeper plane
    is real terrain (climbing, uneven ground) and only its height is used.
    Slopes are fitted only along horizontal directions the contacts spread
    over (std > 0.3 m); a clip with fewer than 10 contact frames keeps its
    tilt and uses the 5th percentile of the lowest foot joint's height.
    The ground height is the FLOOR_PERCENTILE-th percentile of the contact
    heights: on flat ground it is within a few mm of their median, and on
    terrain (climbing frames, uneven ground) it is the lowest level stood on.
    """
    low, speed, point = lower_foot(motion)
    contact = speed < CONTACT_SPEED
    if contact.sum() < 10:
        return _shift_y(motion, -np.percentile(low, 5))
    p = point[contact]
    centre = p.mean(0)
    xz = p[:, [0, 2]] - centre[[0, 2]]
    _, sing, dirs = np.linalg.svd(xz, full_matrices=False)
    spread = sing / np.sqrt(len(xz))
    grad = np.zeros(2)
    for d, s in zip(dirs, spread, strict=True):
        if s > 0.3:
            along = xz @ d
            grad += d * np.sum(along * (p[:, 1] - centre[1])) / np.sum(along**2)
    normal = np.array([-grad[0], 1.0, -grad[1]])
    normal /= np.linalg.norm(normal)
    if np.degrees(np.arccos(normal[1])) <= max_tilt_deg:
        level = Rotation.align_vectors([[0.0, 1.0, 0.0]], [normal])[0].as_matrix()
        motion = rotate(motion, level)
        low, speed, _ = lower_foot(motion)
    return _shift_y(motion, -np.percentile(low[speed < CONTACT_SPEED], FLOOR_PERCENTILE))


def _shift_y(motion: Motion, dy: float) -> Motion:
    trans = motion.trans.copy()
    trans[:, 1] += dy
    return motion.replace(trans=trans)


def lower_foot(motion: Motion):
    """Per frame, the lowest foot joint (ankles, feet): its height (T,), its
    speed (T,) in m/s (central differences, one-sided at the ends) and its
    position (T, 3)."""
    feet = motion.joints()[:, FOOT_JOINTS]
    which = np.argmin(feet[..., 1], axis=1)
    t = np.arange(len(feet))
    vel = np.gradient(feet, axis=0) * motion.fps if len(feet) > 1 else np.zeros_like(feet)
    return feet[t, which, 1], np.linalg.norm(vel[t, which], axis=-1), feet[t, which]


def contact_stats(motion: Motion) -> dict:
    """Foot-floor numbers of a motion (metres, m/s): ``p5_lowest`` the 5th
    percentile over frames of the lowest foot joint's height; over contact
    frames (lowest foot joint slower than CONTACT_SPEED) ``contact_median``
    and ``contact_p90`` of its height and ``contact_fraction``; ``slide``
    the median horizontal speed of the lowest foot joint while it is within
    2 cm of the floor."""
    low, speed, point = lower_foot(motion)
    contact = speed < CONTACT_SPEED
    slide = np.linalg.norm(np.gradient(point[:, [0, 2]], axis=0) * motion.fps, axis=-1)
    on_floor = low < 0.02
    nan = float("nan")
    return {
        "p5_lowest": float(np.percentile(low, 5)),
        "contact_median": float(np.median(low[contact])) if contact.any() else nan,
        "contact_p90": float(np.percentile(low[contact], 90)) if contact.any() else nan,
        "contact_fraction": float(contact.mean()),
        "slide": float(np.median(slide[on_floor])) if on_floor.any() else nan,
    }
