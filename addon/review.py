"""Before/after review: acceleration metrics and the graph image.

``refine_metrics`` and ``plot_accel`` use no bpy and run in the worker
thread; ``load_graph_image`` runs on the main thread.
"""
import os

import numpy as np

from ..refine_core.errors import BadInputError
from ..refine_core.feet import (
    FOOT_NAMES,
    FeetParams,
    contact_segments,
    detect_contacts,
    segments_by_joint,
    up_vector,
)
from ..refine_core.metrics import foot_sliding, per_frame_accel

GRAPH_IMAGE = "Refine accel graph"
METRICS_KEY = "motion_refine_metrics"  # object custom property (dict)
CONTACTS_KEY = "motion_refine_contacts"  # object custom property: {foot joint: [first, last, first, last, ...] scene frames}


def contact_mask(motion, up_axis=None) -> np.ndarray:
    """(T, 4) planted foot joints of ``motion``: the runs the foot lock held
    (``meta["foot_contacts"]``), else refine_core.feet's detector."""
    runs = motion.meta.get("foot_contacts")
    if runs is None:
        return detect_contacts(motion, FeetParams(up_axis=up_axis))[0]
    mask = np.zeros((motion.num_frames, len(FOOT_NAMES)), dtype=bool)
    for c, name in enumerate(FOOT_NAMES):
        for first, last in runs.get(name, []):
            mask[first:last + 1, c] = True
    return mask


def refine_metrics(before, after, start: int, end: int, frame_offset: int, margin: int = None, up_axis=None):
    """Summary numbers over rows start..end and per-frame curves for the graph.

    before/after: ``Motion``; acceleration from FK joints (``Motion.joints``)
    through ``per_frame_accel`` (mm/frame^2); foot sliding (mm/frame,
    refine_core.metrics.foot_sliding) before and after on the contacts of
    ``after`` (``contact_mask``; ``up_axis`` as refine_core.feet's). Returns
    (metrics dict, curves dict with scene ``frames``, ``before``/``after``
    arrays and ``contacts`` (n, 4) covering the range plus ``margin`` frames
    each side).
    """
    n = before.num_frames
    margin = max(10, (end - start + 1) // 10) if margin is None else margin
    lo, hi = max(0, start - margin), min(n, end + 1 + margin)
    # One more frame each side so the accel at the window edge has neighbours.
    clo, chi = max(0, lo - 1), min(n, hi + 1)
    jb = before.slice(clo, chi).joints()
    ja = after.slice(clo, chi).joints()
    acc_b = per_frame_accel(jb)[lo - clo: hi - clo]
    acc_a = per_frame_accel(ja)[lo - clo: hi - clo]
    inner = slice(start - lo, end + 1 - lo)
    disp = np.linalg.norm(ja - jb, axis=-1)[start - clo: end + 1 - clo] * 1000.0
    contacts = contact_mask(after, up_axis)
    in_range = np.zeros_like(contacts)
    in_range[start:end + 1] = contacts[start:end + 1]
    up = up_vector(after, FeetParams(up_axis=up_axis))
    slide_b = foot_sliding(jb, in_range[clo:chi], up)
    slide_a = foot_sliding(ja, in_range[clo:chi], up)
    metrics = {
        "method": after.meta.get("refined_with", ""),
        "frame_start": int(start + frame_offset),
        "frame_end": int(end + frame_offset),
        "accel_mean_before": float(acc_b[inner].mean()),
        "accel_mean_after": float(acc_a[inner].mean()),
        "accel_peak_before": float(acc_b[inner].max()),
        "accel_peak_after": float(acc_a[inner].max()),
        "displacement_mean_mm": float(disp.mean()),
        "displacement_max_mm": float(disp.max()),
        "foot_sliding_before": slide_b,  # NaN: no contact in the range
        "foot_sliding_after": slide_a,
        "feet_locked": "foot_contacts" in after.meta,
    }
    curves = {"frames": np.arange(lo, hi) + frame_offset, "before": acc_b, "after": acc_a, "contacts": contacts[lo:hi]}
    return metrics, curves


def store_contacts(obj, motion, frame_offset: int):
    """Put the foot lock's contact runs on ``obj`` as the custom property
    CONTACTS_KEY, one entry per foot joint, runs as flat scene-frame pairs
    (first, last, first, last, ...) for the animator to check and edit; an
    unlocked refinement removes it."""
    runs = motion.meta.get("foot_contacts")
    if runs is None:
        if CONTACTS_KEY in obj:
            del obj[CONTACTS_KEY]
        return
    shifted = segments_by_joint(contact_mask(motion), frame_offset)
    obj[CONTACTS_KEY] = {name: [f for run in shifted[name] for f in run] for name in FOOT_NAMES}


def graph_path(name: str) -> str:
    """A per-object PNG path in the add-on's user folder (main thread)."""
    from .prefs import user_dir

    folder = user_dir("graphs")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return os.path.join(folder, f"{safe}_accel.png")


def plot_accel(path: str, curves: dict, metrics: dict, title: str = "") -> str:
    """Write the before/after per-frame acceleration plot (PNG, 800x360).

    Uses matplotlib's object API with the Agg canvas: no pyplot, no global
    backend switch, safe in a worker thread and without a display.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    contacts = curves.get("contacts")
    strip = contacts is not None and contacts.any()
    if strip:  # each foot's contacts as a strip under the curves
        ax, feet_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [6, 1], "hspace": 0.05})
    else:
        ax = fig.add_subplot(111)
    ax.axvspan(metrics["frame_start"], metrics["frame_end"], color="#dde8f5", label="refined range")
    ax.plot(curves["frames"], curves["before"], color="#d9534f", lw=0.9,
            label=f"before (mean {metrics['accel_mean_before']:.1f})")
    ax.plot(curves["frames"], curves["after"], color="#2f6fb0", lw=1.2,
            label=f"after (mean {metrics['accel_mean_after']:.1f})")
    if strip:
        frames = curves["frames"]
        for row, cols in enumerate(([0, 1], [2, 3])):  # left (ankle, toe), right
            runs = contact_segments(contacts[:, cols].any(axis=1)[:, None])[0]
            feet_ax.broken_barh([(frames[s] - 0.5, e - s + 1) for s, e in runs], (1 - row - 0.4, 0.8), color="#5a9e5a")
        feet_ax.set_yticks([1, 0], ["L foot", "R foot"], fontsize=7)
        feet_ax.set_ylim(-0.6, 1.6)
        feet_ax.set_xlabel("frame (strip: foot contacts)")
    else:
        ax.set_xlabel("frame")
    ax.set_ylabel("joint accel (mm/frame²)")
    ax.set_title(title or f"{metrics['method']}: per-frame mean joint acceleration", fontsize=10)
    ax.set_xlim(curves["frames"][0], curves["frames"][-1])
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    if strip:  # tight_layout cannot place the shared-axis pair
        fig.subplots_adjust(left=0.08, right=0.98, top=0.92, bottom=0.13)
    else:
        fig.tight_layout()
    from ..refine_core.atomic import atomic_write

    with atomic_write(path) as f:  # another Blender refining a same-named object never shows half a PNG
        fig.savefig(f, format="png")
    return path


def save_graph(img, path: str) -> None:
    """Write the graph image ``img`` as a PNG at ``path`` through atomic_write
    (all or nothing; BadInputError naming ``path`` when it cannot be written)."""
    import bpy

    from ..refine_core.atomic import atomic_write

    if img.packed_file is not None:  # the packed PNG bytes, unchanged
        data = img.packed_file.data
    else:  # unpacked by the user: the file it was unpacked to
        source = bpy.path.abspath(img.filepath)
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise BadInputError(source, f"cannot read the graph image ({exc.strerror or exc})") from None
    with atomic_write(path) as f:
        f.write(data)


def load_graph_image(path: str):
    """Load ``path`` as the "Refine accel graph" image (replacing an older
    one) and pack it, so the .blend keeps it after the temp file is gone."""
    import bpy

    old = bpy.data.images.get(GRAPH_IMAGE)
    if old is not None:
        bpy.data.images.remove(old)
    img = bpy.data.images.load(path, check_existing=False)
    img.name = GRAPH_IMAGE
    img.pack()
    img.preview_ensure()  # here, not in the panel's draw (no ID writes while drawing)
    return img
