"""A model of video pose-estimator error, applied to a clean Motion.

Components (each with its own magnitude in NoiseConfig; docs/data.md has
the presets and the calibration numbers):

1. white jitter: independent per-frame rotation error on every joint
   (degrees, std per axis of the rotation vector; the root's own value);
2. bias: a slowly varying per-joint rotation offset, a static part plus a
   smooth part with a correlation time in seconds; most of an estimator's
   MPJPE is this;
3. spikes: isolated frames (1-2) where some joints are badly wrong (rate
   per second, angle range in degrees);
4. occlusion bursts: a limb chain (skeleton.LIMB_CHAINS) freezes at its
   last seen pose and drifts away for a burst of frames, then snaps back
   (rate per second, duration in seconds, drift in degrees);
5. root translation jitter (mm), strongest along the depth axis (camera
   Z; the world Z axis by default), plus a slow depth drift (mm): at
   camera-space scale (per-frame estimators: metres of depth jitter) or
   world-space scale (WHAM/GVHMR: millimetres);
6. left/right limb swaps: for a burst an arm or leg pair trade places (the
   2D keypoints' labels swapped), with reflected rotations;
7. front/back flips: for a burst the whole body is reflected in depth
   (facing the camera instead of away, the 2D projection unchanged);
8. 180-degree twists of a forearm or wrist about its bone for a burst;
9. dropped and duplicated frames: the track holds a frame (duplicate) or
   jumps a frame ahead (a dropped one) for a run of 1-3 frames.

Families 6-9 are off in the original presets (mild, vibe_like, heavy), whose
output is unchanged for a given seed: a family draws random numbers only
when it is on. ``FAMILIES`` gives every family's magnitudes at each level
(modern, vibe_like, heavy); ``sample_config`` draws families and levels at
random for a training window, leaving out any families named (for
leave-one-family-out), and ``family_config`` puts one family at a level on
top of the modern preset (its held-out test).

fps-awareness: rates, durations and correlation times are in seconds and
converted with the Motion's fps; white jitter is a per-frame std, as an
estimator's per-image error does not depend on the frame rate (so a 60 fps
clip has the same per-frame jitter and MPJPE as its 30 fps version, and
physically a larger acceleration).

Errors compose on the right of the clean local rotation (in the joint's own
frame): q_noisy = q_clean * q_error.
"""
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..motion import Motion
from ..rotations import axis_angle_to_quat, continuous_signs, matrix_to_quat, quat_to_matrix
from ..skeleton import LIMB_CHAINS, NUM_JOINTS


@dataclass(frozen=True)
class NoiseConfig:
    """Magnitudes of each error component (units in the names)."""

    white_deg: float = 0.6  # per-frame jitter, each body joint, std per axis
    root_white_deg: float = 0.3  # per-frame jitter of the global orientation
    white_seconds: float = 0.0  # 0: white; > 0: jitter band-limited over this time (same std)
    bias_deg: float = 4.0  # static per-joint offset, std per axis
    bias_drift_deg: float = 3.0  # slowly varying part of the offset, std per axis
    bias_seconds: float = 1.0  # correlation time (Gaussian kernel sigma) of the drift
    root_bias_deg: float = 1.5  # static and drift std of the global orientation offset
    spike_rate_hz: float = 0.2  # spike events per second
    spike_frames: tuple = (1, 2)  # frames per spike, inclusive range
    spike_deg: tuple = (20.0, 60.0)  # rotation angle of a spike, uniform range
    spike_joint_prob: float = 0.25  # chance each joint is hit during a spike
    occlusion_rate_hz: float = 0.1  # bursts per second
    occlusion_seconds: tuple = (0.3, 1.0)  # burst duration, uniform range
    occlusion_drift_deg: float = 20.0  # angle a chain drifts to by a burst's end
    trans_white_mm: float = 5.0  # per-frame root jitter across the view, std per axis
    depth_factor: float = 4.0  # depth jitter = depth_factor * trans_white_mm
    depth_drift_mm: float = 40.0  # slow depth drift std (bias_seconds correlation)
    depth_axis: int = 2  # world axis taken as the camera depth
    swap_rate_hz: float = 0.0  # left/right limb-pair swap bursts per second
    swap_seconds: tuple = (0.1, 0.5)
    flip_rate_hz: float = 0.0  # whole-body front/back flip bursts per second
    flip_seconds: tuple = (0.1, 0.6)
    twist_rate_hz: float = 0.0  # 180-degree forearm/wrist twist bursts per second
    twist_seconds: tuple = (0.2, 1.0)
    frame_fault_rate_hz: float = 0.0  # dropped or duplicated frame runs per second
    frame_fault_frames: tuple = (1, 3)  # frames per run, inclusive range

    def scaled(self, **changes) -> "NoiseConfig":
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    # A good recent estimator: small jitter, modest bias, rare glitches.
    "mild": NoiseConfig(
        white_deg=0.25, root_white_deg=0.12, bias_deg=2.0, bias_drift_deg=1.5, root_bias_deg=0.8,
        spike_rate_hz=0.05, spike_deg=(15.0, 40.0), occlusion_rate_hz=0.03,
        occlusion_drift_deg=10.0, trans_white_mm=2.0, depth_drift_mm=20.0,
    ),
    # Calibrated to VIBE on 3DPW (accel error ~23 mm/frame^2 at 30 fps).
    "vibe_like": NoiseConfig(),
    # Fast motion, clutter, occlusion: large jitter and frequent glitches.
    "heavy": NoiseConfig(
        white_deg=1.2, root_white_deg=0.6, bias_deg=5.5, bias_drift_deg=4.0, root_bias_deg=2.5,
        spike_rate_hz=0.5, spike_deg=(30.0, 90.0), spike_joint_prob=0.35, occlusion_rate_hz=0.25,
        occlusion_seconds=(0.4, 1.5), occlusion_drift_deg=35.0, trans_white_mm=10.0,
        depth_drift_mm=80.0,
    ),
}


# Fields of the families the original presets leave off (random_config
# leaves them as they are, so its draws for a seed are unchanged).
ZOO_FIELDS = ("swap_rate_hz", "swap_seconds", "flip_rate_hz", "flip_seconds", "twist_rate_hz", "twist_seconds",
              "frame_fault_rate_hz", "frame_fault_frames")
# No error at all: how far a method moves good motion.
CLEAN = NoiseConfig(
    white_deg=0.0, root_white_deg=0.0, bias_deg=0.0, bias_drift_deg=0.0, root_bias_deg=0.0, spike_rate_hz=0.0,
    occlusion_rate_hz=0.0, trans_white_mm=0.0, depth_drift_mm=0.0,
)
LEVELS = ("modern", "vibe_like", "heavy")
# Each family's magnitudes per level. modern: WHAM / GVHMR / TRAM-like output
# (accel error about 5-7 mm/frame^2 at 30 fps, MPJPE about 40 mm, world-space
# root); vibe_like and heavy: the presets' values, plus the new families.
FAMILIES = {
    "white": {"modern": dict(white_deg=0.15, root_white_deg=0.08),
              "vibe_like": dict(white_deg=0.6, root_white_deg=0.3),
              "heavy": dict(white_deg=1.2, root_white_deg=0.6)},
    "bias": {"modern": dict(bias_deg=2.3, bias_drift_deg=1.8, root_bias_deg=1.0),
             "vibe_like": dict(bias_deg=4.0, bias_drift_deg=3.0, root_bias_deg=1.5),
             "heavy": dict(bias_deg=5.5, bias_drift_deg=4.0, root_bias_deg=2.5)},
    "spikes": {"modern": dict(spike_rate_hz=0.03, spike_deg=(15.0, 40.0)),
               "vibe_like": dict(spike_rate_hz=0.2, spike_deg=(20.0, 60.0)),
               "heavy": dict(spike_rate_hz=0.5, spike_deg=(30.0, 90.0), spike_joint_prob=0.35)},
    "occlusion": {"modern": dict(occlusion_rate_hz=0.03, occlusion_drift_deg=10.0),
                  "vibe_like": dict(occlusion_rate_hz=0.1, occlusion_drift_deg=20.0),
                  "heavy": dict(occlusion_rate_hz=0.25, occlusion_seconds=(0.4, 1.5), occlusion_drift_deg=35.0)},
    "swap": {"modern": dict(swap_rate_hz=0.01), "vibe_like": dict(swap_rate_hz=0.05), "heavy": dict(swap_rate_hz=0.15)},
    "flip": {"modern": dict(flip_rate_hz=0.005), "vibe_like": dict(flip_rate_hz=0.02), "heavy": dict(flip_rate_hz=0.08)},
    "twist": {"modern": dict(twist_rate_hz=0.02), "vibe_like": dict(twist_rate_hz=0.08), "heavy": dict(twist_rate_hz=0.2)},
    # Per-frame estimators (VIBE, PHALP, 4D-Humans) in camera space: tens of
    # mm across the view and up to about a metre of depth jitter per frame.
    "root_camera": {"modern": dict(trans_white_mm=15.0, depth_factor=10.0, depth_drift_mm=150.0),
                    "vibe_like": dict(trans_white_mm=30.0, depth_factor=12.0, depth_drift_mm=300.0),
                    "heavy": dict(trans_white_mm=60.0, depth_factor=15.0, depth_drift_mm=600.0)},
    # World-space estimators (WHAM, GVHMR): millimetres.
    "root_world": {"modern": dict(trans_white_mm=1.5, depth_factor=1.5, depth_drift_mm=10.0),
                   "vibe_like": dict(trans_white_mm=5.0, depth_factor=4.0, depth_drift_mm=40.0),
                   "heavy": dict(trans_white_mm=10.0, depth_factor=4.0, depth_drift_mm=80.0)},
    "frames": {"modern": dict(frame_fault_rate_hz=0.02), "vibe_like": dict(frame_fault_rate_hz=0.1),
               "heavy": dict(frame_fault_rate_hz=0.3)},
}
ROOT_FAMILIES = ("root_camera", "root_world")  # one root scale at a time: they set the same fields
MODERN = replace(CLEAN, **{k: v for fam in ("white", "bias", "spikes", "occlusion", "root_world", "twist")
                            for k, v in FAMILIES[fam]["modern"].items()})
PRESETS.update({"clean": CLEAN, "modern": MODERN})


def family_config(family: str, level: str = "vibe_like", base: NoiseConfig = MODERN) -> NoiseConfig:
    """``base`` (default the modern preset) with one family set to ``level``:
    the test input for a family a model was trained without."""
    if family not in FAMILIES:
        raise ValueError(f"unknown noise family {family!r}; choose from {sorted(FAMILIES)}")
    return replace(base, **FAMILIES[family][level])


def sample_config(rng, exclude=(), levels=LEVELS, p_family=0.5, p_clean=0.1, spread=1.5) -> NoiseConfig:
    """A random NoiseConfig for one training window: each family (less
    ``exclude``) is on with probability ``p_family`` at a level drawn from
    ``levels``, its magnitudes scaled by one log-uniform factor in
    [1/spread, spread]; one root scale (camera or world) at most; with
    probability ``p_clean`` no error at all (clean input must pass through)."""
    rng = np.random.default_rng(rng)
    unknown = set(exclude) - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown noise families {sorted(unknown)}; choose from {sorted(FAMILIES)}")
    if rng.random() < p_clean:
        return CLEAN
    changes = {}
    roots = [f for f in ROOT_FAMILIES if f not in exclude]
    root = roots[rng.integers(len(roots))] if roots else None
    for family in FAMILIES:
        if family in exclude or (family in ROOT_FAMILIES and family != root) or rng.random() >= p_family:
            continue
        level = levels[rng.integers(len(levels))]
        factor = float(np.exp(rng.uniform(-np.log(spread), np.log(spread))))
        for key, value in FAMILIES[family][level].items():
            if key == "depth_factor":
                changes[key] = value
            elif isinstance(value, tuple):
                changes[key] = tuple(min(v * factor, 180.0) for v in value)
            else:
                changes[key] = min(value * factor, 1.0) if key == "spike_joint_prob" else value * factor
    return replace(CLEAN, **changes)


def random_config(rng, base="vibe_like", spread=2.0) -> NoiseConfig:
    """A NoiseConfig around ``base`` for training variety (do not learn one recipe).

    Every magnitude, rate, duration and correlation time is scaled by its own
    log-uniform factor in [1/spread, spread] (spike angles capped at 180
    degrees); half the time the jitter is band-limited (white_seconds drawn
    in [0.02, 0.06] s). ``rng``: np.random.Generator or seed.
    """
    rng = np.random.default_rng(rng)
    cfg = get_config(base)
    changes = {}
    for f in fields(NoiseConfig):
        value = getattr(cfg, f.name)
        if f.name in ("depth_axis", "spike_frames", "white_seconds", "depth_factor") or f.name in ZOO_FIELDS:
            continue
        factor = float(np.exp(rng.uniform(-np.log(spread), np.log(spread))))
        if isinstance(value, tuple):
            value = tuple(min(v * factor, 180.0) if f.name == "spike_deg" else v * factor for v in value)
        elif f.name == "spike_joint_prob":
            value = min(value * factor, 1.0)
        else:
            value = value * factor
        changes[f.name] = value
    if rng.random() < 0.5:
        changes["white_seconds"] = float(rng.uniform(0.02, 0.06))
    return replace(cfg, **changes)


def get_config(preset_or_config) -> NoiseConfig:
    """A NoiseConfig from a preset name or a NoiseConfig."""
    if isinstance(preset_or_config, NoiseConfig):
        return preset_or_config
    try:
        return PRESETS[str(preset_or_config)]
    except KeyError:
        raise ValueError(f"unknown noise preset {preset_or_config!r}; choose from {sorted(PRESETS)}") from None


def corrupt(motion: Motion, preset_or_config="vibe_like", rng=None):
    """Corrupt a clean motion like a video estimator would.

    motion: clean Motion (T frames); preset_or_config: a PRESETS name or a
    NoiseConfig; rng: np.random.Generator or a seed (None: fresh entropy).
    Returns (noisy Motion, mask (T,) bool): mask marks the frames hit by a
    spike or an occlusion burst. The input is not modified.
    """
    cfg = get_config(preset_or_config)
    rng = np.random.default_rng(rng)
    n, fps = motion.num_frames, float(motion.fps)
    rot = quat_to_matrix(motion.rotations)

    occluded = _occlude(rot, cfg, fps, rng)
    err = _bias(n, cfg, fps, rng) + _white(n, cfg, fps, rng)
    rot = rot @ _rotvec_to_matrix(err)
    spiked, spike_err = _spikes(n, cfg, fps, rng)
    rot = rot @ _rotvec_to_matrix(spike_err)
    # The families the original presets leave off draw nothing when off.
    hit = occluded | spiked
    if cfg.swap_rate_hz > 0:
        hit |= _swaps(rot, cfg, fps, rng)
    if cfg.twist_rate_hz > 0:
        hit |= _twists(rot, cfg, fps, rng, motion.skeleton.rest_joints)
    if cfg.flip_rate_hz > 0:
        hit |= _flips(rot, cfg, fps, rng)

    quats = matrix_to_quat(rot)
    trans = motion.trans + _root_noise(n, cfg, fps, rng, spiked)
    if cfg.frame_fault_rate_hz > 0:
        index, faulty = _frame_faults(n, cfg, fps, rng)
        quats, trans, hit = quats[index], trans[index], hit | faulty
    noisy = motion.replace(rotations=continuous_signs(quats), trans=trans,
                           meta={**motion.meta, "noise": cfg.as_dict()})
    return noisy, hit


def _rotvec_to_matrix(rotvec):
    """(..., 3) rotation vectors -> (..., 3, 3)."""
    return quat_to_matrix(axis_angle_to_quat(rotvec))


def _joint_std(cfg_body, cfg_root):
    """(24, 1) per-joint std: the root's value at index 0."""
    std = np.full((NUM_JOINTS, 1), float(cfg_body))
    std[0] = cfg_root
    return np.radians(std)


def _white(n, cfg, fps, rng):
    """(T, 24, 3) rotation vectors: independent per frame, or correlated over
    ``white_seconds`` (an estimator with a temporal model smooths its jitter)."""
    if cfg.white_seconds > 0:
        unit = _smooth_noise(n, cfg.white_seconds, fps, rng, (NUM_JOINTS, 3))
    else:
        unit = rng.normal(size=(n, NUM_JOINTS, 3))
    return unit * _joint_std(cfg.white_deg, cfg.root_white_deg)


def _smooth_noise(n, seconds, fps, rng, dims):
    """(n, *dims) unit-variance Gaussian noise correlated over ``seconds``."""
    sigma = max(seconds * fps, 1e-6)
    pad = int(4 * sigma) + 1  # draw beyond the ends so the edges are not damped
    white = rng.normal(size=(n + 2 * pad,) + tuple(dims))
    smooth = gaussian_filter1d(white, sigma, axis=0, mode="wrap")[pad:pad + n]
    # The filter's gain on white noise is 1 / sqrt(2 sqrt(pi) sigma): undo it.
    return smooth * np.sqrt(2.0 * np.sqrt(np.pi) * sigma) if sigma >= 0.5 else white[pad:pad + n]


def _bias(n, cfg, fps, rng):
    """(T, 24, 3) slowly varying offsets: static part plus smooth drift."""
    static = rng.normal(size=(1, NUM_JOINTS, 3)) * _joint_std(cfg.bias_deg, cfg.root_bias_deg)
    drift = _smooth_noise(n, cfg.bias_seconds, fps, rng, (NUM_JOINTS, 3))
    return static + drift * _joint_std(cfg.bias_drift_deg, cfg.root_bias_deg)


def _events(n, rate_hz, fps, rng):
    """Start frames of Poisson events at ``rate_hz`` over n frames."""
    return np.flatnonzero(rng.random(n) < min(rate_hz / fps, 1.0))


def _spikes(n, cfg, fps, rng):
    """(mask (T,), rotation vectors (T, 24, 3)) of isolated large errors."""
    mask = np.zeros(n, dtype=bool)
    err = np.zeros((n, NUM_JOINTS, 3))
    for start in _events(n, cfg.spike_rate_hz, fps, rng):
        length = rng.integers(cfg.spike_frames[0], cfg.spike_frames[1] + 1)
        frames = slice(start, min(start + length, n))
        hit = rng.random(NUM_JOINTS) < cfg.spike_joint_prob
        if not hit.any():
            hit[rng.integers(NUM_JOINTS)] = True
        axis = rng.normal(size=(hit.sum(), 3))
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        angle = np.radians(rng.uniform(*cfg.spike_deg, size=(hit.sum(), 1)))
        err[frames, hit] = axis * angle
        mask[frames] = True
    return mask, err


def _occlude(rot, cfg, fps, rng):
    """Freeze-and-drift bursts on limb chains, in place on rot (T, 24, 3, 3).

    During a burst the chain's local rotations hold their value at the burst's
    first frame and turn linearly away, about a random axis per joint, to
    ``occlusion_drift_deg`` at its end; the next frame snaps back.
    Returns the (T,) mask of burst frames.
    """
    n = len(rot)
    mask = np.zeros(n, dtype=bool)
    chains = list(LIMB_CHAINS.values())
    lo, hi = (max(1, round(s * fps)) for s in cfg.occlusion_seconds)
    for start in _events(n, cfg.occlusion_rate_hz, fps, rng):
        joints = list(chains[rng.integers(len(chains))])
        stop = min(start + rng.integers(lo, hi + 1), n)
        ramp = np.linspace(0.0, 1.0, stop - start)[:, None, None]
        axis = rng.normal(size=(1, len(joints), 3))
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        drift = _rotvec_to_matrix(ramp * axis * np.radians(cfg.occlusion_drift_deg))
        rot[start:stop, joints] = rot[start, joints][None] @ drift
        mask[start:stop] = True
    return mask


def _root_noise(n, cfg, fps, rng, spiked):
    """(T, 3) translation error, metres (zero for a clean config): jitter (depth_factor times larger
    along depth_axis), slow depth drift, and depth jumps at spike frames."""
    scale = np.full(3, cfg.trans_white_mm)
    scale[cfg.depth_axis] *= cfg.depth_factor
    noise = rng.normal(size=(n, 3)) * scale
    noise[:, cfg.depth_axis] += cfg.depth_drift_mm * _smooth_noise(n, cfg.bias_seconds, fps, rng, ())
    noise[spiked, cfg.depth_axis] += rng.normal(size=spiked.sum()) * 4 * scale[cfg.depth_axis]
    return noise / 1000.0


def _bursts(n, rate_hz, seconds, fps, rng):
    """(start, stop) frame ranges of Poisson bursts with uniform durations in ``seconds``."""
    lo, hi = (max(1, round(s * fps)) for s in seconds)
    return [(start, min(start + rng.integers(lo, hi + 1), n)) for start in _events(n, rate_hz, fps, rng)]


REFLECT = np.diag([-1.0, 1.0, 1.0])  # x -> -x: a left/right reflection in the body's frame
PAIRS = {"arms": ((13, 16, 18, 20, 22), (14, 17, 19, 21, 23)), "legs": ((1, 4, 7, 10), (2, 5, 8, 11))}


def _swaps(rot, cfg, fps, rng):
    """Left/right swap bursts of an arm or leg pair, in place on rot (T, 24, 3, 3):
    the two chains trade their (reflected) local rotations. Returns the (T,) mask."""
    pairs = list(PAIRS.values())
    done = np.zeros((len(rot), len(pairs)), dtype=bool)  # overlapping bursts must not swap back
    for start, stop in _bursts(len(rot), cfg.swap_rate_hz, cfg.swap_seconds, fps, rng):
        k = rng.integers(len(pairs))
        done[start:stop, k] = True
    for k, (left, right) in enumerate(pairs):
        left, right, frames = list(left), list(right), done[:, k]
        span = rot[frames]
        a, b = span[:, left], span[:, right]
        span[:, left], span[:, right] = REFLECT @ b @ REFLECT, REFLECT @ a @ REFLECT
        rot[frames] = span
    return done.any(axis=1)


def _flips(rot, cfg, fps, rng):
    """Front/back flip bursts, in place on rot: the body reflected in depth
    (z -> -z), i.e. mirrored left/right and turned 180 degrees about the
    vertical, as a monocular estimator that takes the back for the front."""
    from ..skeleton import MIRROR

    mask = np.zeros(len(rot), dtype=bool)  # overlapping bursts must not flip back
    for start, stop in _bursts(len(rot), cfg.flip_rate_hz, cfg.flip_seconds, fps, rng):
        mask[start:stop] = True
    span = rot[mask]
    body = REFLECT @ span[:, MIRROR[1:]] @ REFLECT
    root = np.diag([1.0, 1.0, -1.0]) @ span[:, 0] @ REFLECT
    span[:, 1:], span[:, 0] = body, root
    rot[mask] = span
    return mask


TWIST_JOINTS = {18: 20, 19: 21, 20: 22, 21: 23}  # elbows (forearm twist) and wrists -> the child along the bone


def _twists(rot, cfg, fps, rng, rest):
    """180-degree (+-20) twist bursts of a forearm or wrist about its rest bone
    axis, composed on the right of the local rotation, in place on rot."""
    joints = list(TWIST_JOINTS)
    done = np.zeros((len(rot), len(joints)), dtype=bool)  # a joint twisted twice would turn back
    for start, stop in _bursts(len(rot), cfg.twist_rate_hz, cfg.twist_seconds, fps, rng):
        k = rng.integers(len(joints))
        j = joints[k]
        axis = rest[TWIST_JOINTS[j]] - rest[j]
        axis = axis / np.linalg.norm(axis)
        twist = _rotvec_to_matrix(axis * np.radians(180.0 + rng.uniform(-20.0, 20.0)))
        frames = np.arange(start, stop)[~done[start:stop, k]]
        rot[frames, j] = rot[frames, j] @ twist
        done[frames, k] = True
    return done.any(axis=1)


def _frame_faults(n, cfg, fps, rng):
    """(index (T,), mask (T,)): runs of 1-3 frames that repeat the frame
    before them (duplicated) or show the frames after (dropped: the track
    runs ahead, then resynchronises)."""
    index = np.arange(n)
    mask = np.zeros(n, dtype=bool)
    for start in _events(n, cfg.frame_fault_rate_hz, fps, rng):
        length = rng.integers(cfg.frame_fault_frames[0], cfg.frame_fault_frames[1] + 1)
        stop = min(start + length, n)
        if rng.random() < 0.5:
            index[start:stop] = index[max(start - 1, 0)]
        else:
            index[start:stop] = np.minimum(np.arange(start, stop) + 1, n - 1)
        mask[start:stop] = True
    return index, mask


# ------------------------------------------------------------- calibration


def measure(clips, preset_or_config="vibe_like", seed=0) -> dict:
    """Noise level of a preset on clean ``clips`` by the project's metrics.

    Returns frame-weighted means over clips of MPJPE (mm), accel error
    (mm/frame^2) and PA-MPJPE (mm), plus the corrupted-frame fraction and
    ``root_accel_error``: the root translation's accel error (mm/frame^2;
    the joint metrics are pelvis-aligned and do not see the root families).
    One Generator seeded with ``seed`` corrupts the clips in order.
    """
    from ..metrics import accel_error, mpjpe, pa_mpjpe

    rng = np.random.default_rng(seed)
    sums = {"mpjpe": 0.0, "pa_mpjpe": 0.0, "accel_error": 0.0, "corrupted": 0.0, "root_accel_error": 0.0}
    frames = accel_frames = 0
    for clean in clips:
        noisy, mask = corrupt(clean, preset_or_config, rng)
        gj, pj = clean.joints(), noisy.joints()
        n = clean.num_frames
        sums["mpjpe"] += mpjpe(pj, gj) * n
        sums["pa_mpjpe"] += pa_mpjpe(pj, gj) * n
        sums["corrupted"] += mask.sum()
        if n >= 3:
            sums["accel_error"] += accel_error(pj, gj) * (n - 2)
            root = np.diff(noisy.trans - clean.trans, n=2, axis=0)
            sums["root_accel_error"] += np.linalg.norm(root, axis=-1).sum() * 1000.0
            accel_frames += n - 2
        frames += n
    out = {k: v / frames for k, v in sums.items()}
    out["accel_error"] = sums["accel_error"] / max(accel_frames, 1)
    out["root_accel_error"] = sums["root_accel_error"] / max(accel_frames, 1)
    return out


def plot_example(clean: Motion, path, presets=tuple(PRESETS), seed=0, joint="left_wrist"):
    """PNG of one joint's pelvis-aligned height (mm) over time, clean and under
    each preset, with the corrupted frames shaded; and the root translation error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..skeleton import JOINT_NAMES

    j = JOINT_NAMES.index(joint)
    t = np.arange(clean.num_frames) / clean.fps
    g = clean.joints()
    fig, axes = plt.subplots(len(presets), 2, figsize=(11, 2.2 * len(presets)), squeeze=False)
    for row, name in enumerate(presets):
        noisy, mask = corrupt(clean, name, np.random.default_rng(seed))
        p = noisy.joints()
        ax = axes[row, 0]
        ax.plot(t, 1000 * (g[:, j, 1] - g[:, 0, 1]), "k", lw=1.5, label="clean")
        ax.plot(t, 1000 * (p[:, j, 1] - p[:, 0, 1]), "tab:red", lw=1, label=name)
        ax.fill_between(t, 0, 1, where=mask, transform=ax.get_xaxis_transform(), color="0.85", label="mask")
        ax.set_ylabel(f"{joint} y - pelvis (mm)", fontsize=7)
        ax.legend(fontsize=7, loc="upper right")
        ax = axes[row, 1]
        err = 1000 * (noisy.trans - clean.trans)
        for k, (axis, color) in enumerate(zip("xyz", ("tab:blue", "tab:green", "tab:red"), strict=True)):
            ax.plot(t, err[:, k], color=color, lw=1, label=f"{axis}" + (" (depth)" if k == get_config(name).depth_axis else ""))
        ax.set_ylabel("root translation error (mm)", fontsize=7)
        ax.legend(fontsize=7, loc="upper right")
        for ax in axes[row]:
            ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("seconds")
    axes[-1, 1].set_xlabel("seconds")
    fig.suptitle(f"{clean.meta.get('source', 'clip')} at {clean.fps:g} fps, seed {seed}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    import argparse
    import time

    from .data import load_cmu

    parser = argparse.ArgumentParser(description="Measure the noise presets on the CMU validation split.")
    parser.add_argument("--fps", type=float, default=30)
    parser.add_argument("--split", default="val")
    parser.add_argument("--seeds", type=int, default=3, help="average over seeds 0..N-1")
    parser.add_argument("--plot", metavar="PNG", help="also plot the presets on the first validation walk")
    parser.add_argument("--families", action="store_true", help="also measure each zoo family alone at each level")
    args = parser.parse_args(argv)
    clips = load_cmu(fps=args.fps, split=args.split)
    if args.plot:
        walk = next((c for c in clips if "007" in str(c.meta.get("source"))), clips[0])
        plot_example(walk, args.plot)
    frames = sum(c.num_frames for c in clips)
    print(f"{args.split} split, {args.fps:g} fps: {len(clips)} clips, {frames} frames; mean of seeds 0-{args.seeds - 1}")
    print("| preset | MPJPE mm | PA-MPJPE mm | accel error mm/frame^2 | root accel error mm/frame^2 | corrupted frames |")
    print("|---|---|---|---|---|---|")
    for name in PRESETS:
        t = time.perf_counter()
        runs = [measure(clips, name, seed) for seed in range(args.seeds)]
        m = {k: np.mean([r[k] for r in runs]) for k in runs[0]}
        print(f"| {name} | {m['mpjpe']:.1f} | {m['pa_mpjpe']:.1f} | {m['accel_error']:.1f} | {m['root_accel_error']:.1f} | "
              f"{100 * m['corrupted']:.1f}% |"
              f"  ({time.perf_counter() - t:.1f} s)")
    if args.families:
        print("\n| family | level | MPJPE mm | PA-MPJPE mm | accel error mm/frame^2 | root accel error mm/frame^2 | "
              "corrupted frames |")
        print("|---|---|---|---|---|---|---|")
        for family in FAMILIES:
            for level in LEVELS:
                cfg = family_config(family, level, base=CLEAN)
                runs = [measure(clips, cfg, seed) for seed in range(args.seeds)]
                m = {k: np.mean([r[k] for r in runs]) for k in runs[0]}
                print(f"| {family} | {level} | {m['mpjpe']:.1f} | {m['pa_mpjpe']:.1f} | {m['accel_error']:.1f} | "
                      f"{m['root_accel_error']:.1f} | {100 * m['corrupted']:.1f}% |")


if __name__ == "__main__":
    main()
