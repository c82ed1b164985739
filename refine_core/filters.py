"""Classical temporal filters, rotation-aware.

Each ``refine_<name>(motion, progress=None, **params) -> Motion`` filters a
whole motion and returns a new one of the same length; the registry's
``refiners.refine`` adds frame range, blend and strength around it.

Rotation handling, shared by all: each joint's quaternion track is first made
sign-continuous in time (q and -q are one rotation; a linear filter averaging
across the double cover would shrink the quaternion towards zero and turn the
joint the wrong way), then filtered as four scalar signals, then renormalised.
For the small angular spread inside a filter window this is the usual
chordal/linear approximation of a rotation average. Root translation is
filtered with the same filter. ``progress(fraction)`` is called at the start
and the end; it may raise to cancel (never caught here).
"""
import numpy as np
from scipy import ndimage, signal

from .params import Param
from .rotations import continuous_signs, normalize_quat, slerp

# Defaults for 30 fps video pose-estimator output (see docs/methods/classical.md).
# What each filter's parameters may be (refiners.check_request checks them
# before any work); their defaults are the tuned values in weights/classical.json.
FILTER_PARAMS = {
    "butterworth": (Param("cutoff_hz", float, None, 0.01, 1000.0, "-3 dB point of one pass, Hz"),),
    "gaussian": (Param("sigma_frames", float, None, 0.01, 100.0, "standard deviation, frames"),),
    "oneeuro": (Param("min_cutoff", float, None, 0.001, 1000.0, "cutoff at rest, Hz"),
                Param("beta", float, None, 0.0, 1000.0, "cutoff increase per unit of speed"),
                Param("d_cutoff", float, 1.0, 0.001, 1000.0, "low-pass of the speed estimate, Hz")),
    "savgol": (Param("window", int, None, 1, 999, "frames (odd; clipped to the motion)"),
               Param("polyorder", int, None, 0, 10, "polynomial order (below the window)")),
    "slerp": (Param("step", int, None, 1, 10_000, "frames between kept keys"),),
}


def _report(progress, fraction):
    if progress is not None:
        progress(fraction)


def _apply(motion, track_filter, progress=None):
    """New Motion whose rotations and trans are ``track_filter`` applied along time.

    track_filter: (T, ...) array -> (T, ...) array, filtering axis 0.
    """
    _report(progress, 0.0)
    quats = continuous_signs(motion.rotations, axis=0)  # (T, 24, 4), a copy
    rotations = normalize_quat(track_filter(quats))
    trans = track_filter(np.asarray(motion.trans, dtype=np.float64))
    _report(progress, 1.0)
    return _result(motion, rotations, trans)


def _result(motion, rotations, trans):
    return motion.replace(rotations=rotations, trans=trans, meta=dict(motion.meta))


def _unchanged(motion, progress):
    _report(progress, 0.0)
    _report(progress, 1.0)
    return _result(motion, np.array(motion.rotations, dtype=np.float64), np.array(motion.trans, dtype=np.float64))


def refine_butterworth(motion, progress=None, *, cutoff_hz):
    """Zero-phase 4th-order Butterworth low-pass (forward-backward, so the
    effective response is the squared magnitude, 8th order, no lag).

    cutoff_hz: -3 dB point of the single pass, in Hz at ``motion.fps``; at or
    above Nyquist (fps / 2) the input is returned unchanged.
    """
    if cutoff_hz >= motion.fps / 2:
        return _unchanged(motion, progress)
    sos = signal.butter(4, cutoff_hz, btype="low", fs=motion.fps, output="sos")
    # sosfiltfilt pads each end by odd reflection (default 3 * (2 * sections + 1)
    # = 15 samples) and needs padlen < T: shorten it for short clips.
    padlen = min(3 * (2 * len(sos) + 1), motion.num_frames - 1)
    return _apply(motion, lambda x: signal.sosfiltfilt(sos, x, axis=0, padlen=padlen), progress)


def refine_gaussian(motion, progress=None, *, sigma_frames):
    """Gaussian smoothing over time, standard deviation ``sigma_frames`` frames.

    Edges use mode 'nearest' (hold the end value): for a trending signal
    (a turning root, a walk) its end bias is half that of 'mirror', which
    folds the trend back on itself; for a still end both are exact.
    """
    return _apply(motion, lambda x: ndimage.gaussian_filter1d(x, sigma_frames, axis=0, mode="nearest"), progress)


def refine_savgol(motion, progress=None, *, window, polyorder):
    """Savitzky-Golay smoothing: a least-squares polynomial of ``polyorder``
    fitted over ``window`` frames (odd). Keeps peaks better than a Gaussian of
    the same width. The window is clipped to the motion length and kept odd;
    polyorder is lowered below the window if needed (a 3-frame motion gets a
    window of 3). Edges: mode 'interp' (the polynomial of the last window)."""
    n = motion.num_frames
    window = min(window, n)
    window -= 1 - window % 2  # odd
    polyorder = min(polyorder, window - 1)
    if window < 3:
        return _unchanged(motion, progress)
    return _apply(motion, lambda x: signal.savgol_filter(x, window, polyorder, axis=0, mode="interp"), progress)


def _oneeuro_alpha(cutoff, rate):
    """Smoothing factor of a first-order low-pass at ``cutoff`` Hz sampled at ``rate`` Hz."""
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau * rate)


def oneeuro_filter(x, rate, min_cutoff, beta, d_cutoff=1.0):
    """Causal One Euro filter (Casiez, Roussel, Vogel, CHI 2012) along axis 0.

    x: (T, G, C) signals in G groups of C components; rate: samples/s. Each
    group shares one adaptive cutoff from the norm of its filtered velocity
    (a quaternion's four components, or a translation's three, must be
    smoothed alike or the direction is distorted):
    cutoff = min_cutoff + beta * |dx/dt|. Vectorised over groups; the loop
    over time is inherent (each step needs the previous output) and no
    maintained library provides the filter.
    """
    out = np.empty_like(x)
    out[0] = x[0]
    dx_hat = np.zeros_like(x[0])
    a_d = _oneeuro_alpha(d_cutoff, rate)
    for t in range(1, len(x)):
        dx = (x[t] - out[t - 1]) * rate
        dx_hat = a_d * dx + (1.0 - a_d) * dx_hat
        cutoff = min_cutoff + beta * np.linalg.norm(dx_hat, axis=-1, keepdims=True)
        a = _oneeuro_alpha(cutoff, rate)
        out[t] = a * x[t] + (1.0 - a) * out[t - 1]
    return out


def refine_oneeuro(motion, progress=None, *, min_cutoff, beta, d_cutoff=1.0):
    """One Euro filter: a first-order low-pass whose cutoff rises with speed,
    so slow motion is smoothed hard and fast motion follows with little lag.

    min_cutoff (Hz): cutoff at rest; beta (s/unit): cutoff increase per unit of
    speed (quaternion units/s for rotations, m/s for translation);
    d_cutoff (Hz): low-pass on the speed estimate. Causal as published: it lags
    the input (about 1 / (2 pi cutoff) s), unlike the zero-phase filters.
    """
    def track_filter(x):
        groups = x.reshape(len(x), -1, x.shape[-1]) if x.ndim == 3 else x[:, None, :]
        return oneeuro_filter(groups, motion.fps, min_cutoff, beta, d_cutoff).reshape(x.shape)

    return _apply(motion, track_filter, progress)


def refine_slerp(motion, progress=None, *, step):
    """Keyframe reduction: keep every ``step``-th frame (and the last) as a key
    and fill between by slerp for rotations and linear interpolation for the
    translation (piecewise linear in both, so they stay in step). Removes
    noise between keys; the keys keep theirs."""
    _report(progress, 0.0)
    n = motion.num_frames
    keys = np.unique(np.append(np.arange(0, n, step), n - 1))
    frames = np.arange(n)
    # Segment k spans keys[k]..keys[k+1]; each frame's segment and weight in it.
    seg = np.clip(np.searchsorted(keys, frames, side="right") - 1, 0, max(len(keys) - 2, 0))
    lo, hi = keys[seg], keys[np.minimum(seg + 1, len(keys) - 1)]
    weight = np.where(hi > lo, (frames - lo) / np.maximum(hi - lo, 1), 0.0)
    rotations = slerp(motion.rotations[lo], motion.rotations[hi], weight[:, None])
    trans = np.stack([np.interp(frames, keys, motion.trans[keys, c]) for c in range(3)], axis=1)
    # Keys themselves are kept exactly (slerp renormalises, which may touch the last bit).
    rotations[keys] = motion.rotations[keys]
    _report(progress, 1.0)
    return _result(motion, rotations, trans)
