"""Before/after review: acceleration metrics and the graph image.

``refine_metrics`` and ``plot_accel`` use no bpy and run in the worker
thread; ``load_graph_image`` runs on the main thread.
"""
import os

import numpy as np

from ..refine_core.errors import BadInputError
from ..refine_core.metrics import per_frame_accel

GRAPH_IMAGE = "Refine accel graph"
METRICS_KEY = "motion_refine_metrics"  # object custom property (dict)


def refine_metrics(before, after, start: int, end: int, frame_offset: int, margin: int = None):
    """Summary numbers over rows start..end and per-frame curves for the graph.

    before/after: ``Motion``; acceleration from FK joints (``Motion.joints``)
    through ``per_frame_accel`` (mm/frame^2). Returns (metrics dict, curves
    dict with scene ``frames`` and ``before``/``after`` arrays covering the
    range plus ``margin`` frames each side).
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
    }
    curves = {"frames": np.arange(lo, hi) + frame_offset, "before": acc_b, "after": acc_a}
    return metrics, curves


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
    ax = fig.add_subplot(111)
    ax.axvspan(metrics["frame_start"], metrics["frame_end"], color="#dde8f5", label="refined range")
    ax.plot(curves["frames"], curves["before"], color="#d9534f", lw=0.9,
            label=f"before (mean {metrics['accel_mean_before']:.1f})")
    ax.plot(curves["frames"], curves["after"], color="#2f6fb0", lw=1.2,
            label=f"after (mean {metrics['accel_mean_after']:.1f})")
    ax.set_xlabel("frame")
    ax.set_ylabel("joint accel (mm/frame²)")
    ax.set_title(title or f"{metrics['method']}: per-frame mean joint acceleration", fontsize=10)
    ax.set_xlim(curves["frames"][0], curves["frames"][-1])
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
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
