"""Do no harm: how far a learned refiner may move its input, per joint and frame.

A network trained on noisy/clean pairs also learns the training data's habits
(poses, hand orientations, the bias corrections that help noisy input) and
applies them to good input. The guard bounds the refined motion to a
neighbourhood of the input whose radius is measured on the input itself:

- a floor (a held pose may not turn by more than it);
- ``strength`` times the local noise level: the median over about a second of
  the third time difference's magnitude, divided by sqrt(20) (the third
  difference of white noise of std s has std sqrt(20) s, while smooth motion's
  shrinks: at 30 fps a 3 Hz swing keeps 1/4 of its amplitude). The median
  ignores short bursts, so clean motion with fast moments reads as clean;
- the local outlier size: how far each frame is from a short running median
  (which leaves monotone motion untouched), dilated by a few frames, so a
  spike, swap or twist of a few frames may be moved back all the way;
- a gate: where the body's median noise level is that of estimator output
  (over GATE_DEG; clean mocap stays under it) and the third differences
  flip from frame to frame as white noise's do (whiteness, WHITE_GATE: a
  clean run at 30 fps has the level of jitter, but its third differences
  change smoothly), the bound opens and the network decides. The root
  translation has its own gate as well (ROOT_GATE_M): a track whose pose is
  good but whose root jitters (camera-space depth, or world-space jitter over
  modern estimators') gets its root refined.

The gain over filters comes from the model; the guard only cuts what it
would change on input that measures as good. Rotations are compared as
chords of sign-continuous unit quaternions (about half the angle in
radians), translations in metres.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, minimum_filter1d

NOISE_WINDOW = 31  # frames (about a second at the models' 30 fps) of the noise median
GRID = 8  # the running medians are taken every GRID absolute frames and interpolated (speed)
OUTLIER_WINDOW = 7  # frames of the running median that outliers are measured against
OUTLIER_DILATION = 3  # frames each side an outlier's allowance spreads
OUTLIER_RATIO = 4.0  # an outlier strays this many times further than frames around it do
OUTLIER_DEG = 10.0  # and further than this (spikes, swaps, twists: 15 degrees and more)
OUTLIER_M = 0.05  # the root's: further than this
FLOOR_DEG = 0.1  # rotation any joint may always move by
FLOOR_M = 0.001  # translation the root may always move by
SCALE_RADIUS = 2  # frames over which the share of a change kept is smoothed
GATE_DEG = (0.8, 0.95)  # body joints' median noise level at which the guard starts and ends opening
# Root translation's noise level (m) at which its own gate starts and ends
# opening: clean validation mocap is under 4.4 mm on 99.9% of frames, the
# modern preset's median 2.9 mm; vibe_like and either root family at
# vibe_like level are over 7.8 mm on 99% of frames (docs/methods/learned.md).
ROOT_GATE_M = (0.004, 0.006)
# Minus the body's median whiteness at which the gate may start and end
# opening. Training split (docs/methods/learned.md): clean runs where their
# level opens the gate, median -0.47; vibe_like input -0.63 on its 99th
# percentile (runs: -0.64 on the 90th), heavy under -0.70 on 99% of frames.
WHITE_GATE = (0.5, 0.65)
OPEN_DEG = 60.0  # the bound added when fully open: the network decides
OPEN_M = 1.0
BODY_JOINTS = slice(0, 22)
# Frames each side the bound reads: the outliers' median, their typical size's grid median, the dilation.
REACH = OUTLIER_WINDOW // 2 + 2 + NOISE_WINDOW // 2 + GRID + OUTLIER_DILATION + 2 * SCALE_RADIUS
THIRD_DIFFERENCE_GAIN = np.sqrt(20.0)  # std of the third difference of unit white noise


def grid_median(values: np.ndarray, window: int, offset: int) -> np.ndarray:
    """(T, J) running median over ``window`` frames of ``values`` (T, J) (edges
    replicated), taken at absolute frames that are multiples of GRID (``offset``:
    the absolute frame of row 0, so a stretch gets the whole motion's values)
    and linearly interpolated between them. Why by hand: scipy's median_filter
    on every frame cost more than the fastest network here."""
    n = len(values)
    half = window // 2
    padded = np.pad(values, ((half + GRID, half + GRID), (0, 0)), mode="edge")
    first = (-offset) % GRID - GRID  # the grid frame at or before row 0, local index
    centres = np.arange(first, n + GRID, GRID)
    med = np.median(sliding_window_view(padded, window, axis=0)[centres + GRID], axis=-1)  # (K, J)
    k, w = np.divmod(np.arange(n) - first, GRID)
    w = (w / GRID)[:, None]
    return med[k] * (1 - w) + med[k + 1] * w


def noise_level(x: np.ndarray, offset: int = 0) -> np.ndarray:
    """(T, J) local noise level of ``x`` (T, J, C): the running median of the
    third difference's magnitude over NOISE_WINDOW frames, over sqrt(20)."""
    if len(x) < 4:
        return np.zeros(x.shape[:2])
    third = np.linalg.norm(np.diff(x, n=3, axis=0), axis=-1)  # (T-3, J): centred on frames 1.5 .. T-1.5
    third = np.pad(third, ((1, 2), (0, 0)), mode="edge")
    return grid_median(third, NOISE_WINDOW, offset) / THIRD_DIFFERENCE_GAIN


def whiteness(x: np.ndarray, offset: int = 0) -> np.ndarray:
    """(T, J) running median over NOISE_WINDOW frames of the cosine between
    consecutive third differences of ``x`` (T, J, C): about -0.8 for white
    noise (and a spike), higher the more of them is smooth motion (a 3 Hz
    swing at 30 fps: 0.8). A cosine per frame, so a spike's size does not
    outweigh the frames around it."""
    if len(x) < 5:
        return np.zeros(x.shape[:2])
    third = np.diff(x, n=3, axis=0)
    size = np.linalg.norm(third, axis=-1)
    cosine = (third[1:] * third[:-1]).sum(-1) / np.maximum(size[1:] * size[:-1], 1e-20)
    return grid_median(np.pad(cosine, ((2, 2), (0, 0)), mode="edge"), NOISE_WINDOW, offset)


def gate(level: np.ndarray, white: np.ndarray | None = None) -> np.ndarray:
    """(T,) how open the guard is, 0 .. 1, from the body joints' (T, J) noise
    levels (chords): their median per frame against GATE_DEG. Clean mocap of the
    training split stays under its lower end on 99% of frames, vibe_like and
    heavy input is over the upper end on 99% (docs/methods/learned.md).
    ``white`` (T, J), whiteness(): the opening is also scaled by the body's
    median whiteness against WHITE_GATE."""
    open_ = opening(np.median(level[:, BODY_JOINTS], axis=1), *(chord(d) for d in GATE_DEG))
    return open_ if white is None else open_ * white_opening(white)


def white_opening(white: np.ndarray) -> np.ndarray:
    """(T,) the share of the gate's opening that the body's median whiteness
    (T, J) allows, against WHITE_GATE."""
    return opening(-np.median(white[:, BODY_JOINTS], axis=1), *WHITE_GATE)


def opening(level: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 where ``level`` is at most ``lo``, 1 from ``hi`` on, linear between."""
    return np.clip((level - lo) / (hi - lo), 0.0, 1.0)


def bounds(x: np.ndarray, strength: float, floor: float, least: float, offset: int = 0,
           level: np.ndarray | None = None) -> np.ndarray:
    """(T, J) allowed distance of each joint and frame from ``x`` (T, J, C);
    ``least``: the smallest outlier counted; ``offset``: absolute frame of row 0;
    ``level``: noise_level(x) when already known."""
    level = noise_level(x, offset) if level is None else level
    return floor + strength * level + outlier_size(x, least, offset)


def outlier_size(x: np.ndarray, least: float = 0.0, offset: int = 0) -> np.ndarray:
    """(T, J) distance of each outlying frame from the running median, spread
    over its neighbours; 0 elsewhere. A frame is an outlier when that distance
    is over ``least`` and OUTLIER_RATIO times its typical size over the noise
    window (a fast clean swing strays from a 7-frame median too, but all along).
    The median is only taken where a large second difference says a burst may
    be (a burst of up to 3 frames has one at each end)."""
    n = len(x)
    dev = np.zeros(x.shape[:2])
    if n < 3:
        return dev
    second = np.pad(np.linalg.norm(x[2:] - 2 * x[1:-1] + x[:-2], axis=-1), ((1, 1), (0, 0)), mode="edge")
    near = maximum_filter1d(second > least, OUTLIER_WINDOW, axis=0, mode="nearest")
    t, j = np.nonzero(near)
    if len(t):
        half = OUTLIER_WINDOW // 2
        windows = sliding_window_view(np.pad(x, ((half, half), (0, 0), (0, 0)), mode="edge"), OUTLIER_WINDOW, axis=0)
        around = windows[t, j]  # (K, C, OUTLIER_WINDOW), a copy
        around.partition(half, axis=-1)  # np.median's NaN checks and copies cost more than this
        dev[t, j] = np.linalg.norm(x[t, j] - around[..., half], axis=-1)
    typical = grid_median(dev, NOISE_WINDOW, offset)
    dev = np.where((dev > least) & (dev > OUTLIER_RATIO * typical), dev, 0.0)
    return maximum_filter1d(dev, 2 * OUTLIER_DILATION + 1, axis=0, mode="nearest")


def chord(degrees: float) -> float:
    """The distance of two unit quaternions a rotation of ``degrees`` apart."""
    return 2 * np.sin(np.radians(degrees) / 4)


def clamp(before: np.ndarray, after: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """``after`` moved back towards ``before`` (T, J, C) so that no frame is
    farther than ``bound`` (T, J). The share of the change kept varies
    smoothly in time (the least share needed within SCALE_RADIUS frames,
    then a Gaussian within the same radius, which cannot exceed it): cutting
    each frame on its own would leave the input's jitter at the cut frames only."""
    step = after - before
    dist = np.linalg.norm(step, axis=-1)
    scale = np.minimum(1.0, bound / np.maximum(dist, 1e-12))
    if len(scale) > 1:
        scale = minimum_filter1d(scale, 2 * SCALE_RADIUS + 1, axis=0, mode="nearest")
        scale = gaussian_filter1d(scale, SCALE_RADIUS / 2, axis=0, mode="nearest", truncate=2.0)
    return before + step * scale[..., None]


def guard(quats_in: np.ndarray, trans_in: np.ndarray, quats_out: np.ndarray, trans_out: np.ndarray,
          strength: float, offset: int = 0) -> tuple:
    """(quats, trans) of the refined motion bounded around the input.

    quats (T, 24, 4) sign-continuous and in the same hemisphere frame by frame,
    trans (T, 3); ``strength`` multiplies the noise term; ``offset``: the
    absolute frame of row 0 (a stretch is bounded as the whole motion is)."""
    level = noise_level(quats_in, offset)
    pose_open = gate(level)
    if pose_open.any():  # whiteness only narrows an opening: not needed where the level keeps it shut
        pose_open = pose_open * white_opening(whiteness(quats_in, offset))
    pose_open = pose_open[:, None]
    bound = bounds(quats_in, strength, chord(FLOOR_DEG), chord(OUTLIER_DEG), offset, level) + pose_open * chord(OPEN_DEG)
    q = clamp(quats_in, quats_out, bound)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    root = trans_in[:, None]
    root_level = noise_level(root, offset)
    root_open = np.maximum(pose_open, opening(root_level, *ROOT_GATE_M))
    bound = bounds(root, strength, FLOOR_M, OUTLIER_M, offset, root_level) + root_open * OPEN_M
    t = clamp(root, trans_out[:, None], bound)[:, 0]
    return q, t
