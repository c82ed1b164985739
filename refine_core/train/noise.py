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
   Z; the world Z axis by default), plus a slow depth drift (mm).

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
        if f.name in ("depth_axis", "spike_frames", "white_seconds", "depth_factor"):
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

    quats = matrix_to_quat(rot)
    trans = motion.trans + _root_noise(n, cfg, fps, rng, spiked)
    noisy = motion.replace(rotations=continuous_signs(quats), trans=trans,
                           meta={**motion.meta, "noise": cfg.as_dict()})
    return noisy, occluded | spiked


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
    """(T, 3) translation error, metres: jitter (depth_factor times larger
    along depth_axis), slow depth drift, and depth jumps at spike frames."""
    scale = np.full(3, cfg.trans_white_mm)
    scale[cfg.depth_axis] *= cfg.depth_factor
    noise = rng.normal(size=(n, 3)) * scale
    noise[:, cfg.depth_axis] += cfg.depth_drift_mm * _smooth_noise(n, cfg.bias_seconds, fps, rng, ())
    noise[spiked, cfg.depth_axis] += rng.normal(size=spiked.sum()) * 4 * scale[cfg.depth_axis]
    return noise / 1000.0


# ------------------------------------------------------------- calibration


def measure(clips, preset_or_config="vibe_like", seed=0) -> dict:
    """Noise level of a preset on clean ``clips`` by the project's metrics.

    Returns frame-weighted means over clips of MPJPE (mm), accel error
    (mm/frame^2) and PA-MPJPE (mm), plus the corrupted-frame fraction. One
    Generator seeded with ``seed`` corrupts the clips in order.
    """
    from ..metrics import accel_error, mpjpe, pa_mpjpe

    rng = np.random.default_rng(seed)
    sums = {"mpjpe": 0.0, "pa_mpjpe": 0.0, "accel_error": 0.0, "corrupted": 0.0}
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
            accel_frames += n - 2
        frames += n
    out = {k: v / frames for k, v in sums.items()}
    out["accel_error"] = sums["accel_error"] / max(accel_frames, 1)
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
        for k, (axis, color) in enumerate(zip("xyz", ("tab:blue", "tab:green", "tab:red"))):
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
    args = parser.parse_args(argv)
    clips = load_cmu(fps=args.fps, split=args.split)
    if args.plot:
        walk = next((c for c in clips if "007" in str(c.meta.get("source"))), clips[0])
        plot_example(walk, args.plot)
    print(f"{args.split} split, {args.fps:g} fps: {len(clips)} clips, {sum(c.num_frames for c in clips)} frames; mean of seeds 0-{args.seeds - 1}")
    print("| preset | MPJPE mm | PA-MPJPE mm | accel error mm/frame^2 | corrupted frames |")
    print("|---|---|---|---|---|")
    for name in PRESETS:
        t = time.perf_counter()
        runs = [measure(clips, name, seed) for seed in range(args.seeds)]
        m = {k: np.mean([r[k] for r in runs]) for k in runs[0]}
        print(f"| {name} | {m['mpjpe']:.1f} | {m['pa_mpjpe']:.1f} | {m['accel_error']:.1f} | {100 * m['corrupted']:.1f}% |"
              f"  ({time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    main()
