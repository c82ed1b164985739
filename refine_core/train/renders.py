"""Stick-figure renders and foot-contact tables of retargeted clips (docs/data.md)."""
from pathlib import Path

import numpy as np

from ..motion import Motion
from ..skeleton import JOINT_NAMES, PARENTS
from .dataset import data_root, load_bvh
from .floor import contact_stats, lower_foot

RENDER_CLIPS = ("007/007_03.bvh", "002/002_01.bvh", "005/005_04.bvh", "001/001_01.bvh")


def render(motion: Motion, path, frames=6, title=None):
    """Stick figures of ``frames`` evenly spaced frames: side view (Z right,
    Y up) above, front view (X right, Y up) below; left limbs blue, right red,
    floor y = 0 grey. Writes a PNG to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    joints = motion.joints()
    idx = np.linspace(0, len(joints) - 1, frames).round().astype(int)
    fig, axes = plt.subplots(2, frames, figsize=(2.2 * frames, 5.6), squeeze=False)
    for col, t in enumerate(idx):
        for row, (h, label) in enumerate(((2, "side: z"), (0, "front: x"))):
            ax = axes[row, col]
            p = joints[t]
            centre = p[0, h]
            for j in range(1, 24):
                q = PARENTS[j]
                side = JOINT_NAMES[j][:4]
                color = {"left": "tab:blue", "righ": "tab:red"}.get(side, "k")
                ax.plot([p[q, h] - centre, p[j, h] - centre], [p[q, 1], p[j, 1]], color=color, lw=2)
            ax.scatter(p[:, h] - centre, p[:, 1], s=6, color="k", zorder=3)
            ax.axhline(0.0, color="0.5", lw=1)
            ax.set_xlim(-1.0, 1.0)
            ax.set_ylim(-0.15, 2.0 + max(0.0, joints[:, :, 1].max() - 1.9))
            ax.set_aspect("equal")
            ax.tick_params(labelsize=6)
            ax.set_title(f"frame {t} ({label} m)", fontsize=7)
    fig.suptitle(title or str(motion.meta.get("source", "")), fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def render_docs(out_dir, root=None, clips=RENDER_CLIPS, fps=30):
    """The stick-figure PNGs of docs/data.md, one per clip of ``clips``."""
    root = Path(root) if root else data_root()
    paths = []
    for rel in clips:
        motion = load_bvh(root / rel, fps)
        low = lower_foot(motion)[0]
        path = Path(out_dir) / f"retarget_{Path(rel).stem}.png"
        render(motion, path,
               title=f"{rel} retargeted to SMPL-24, {fps:g} fps; lowest foot joint p5 {100 * np.percentile(low, 5):.1f} cm")
        paths.append(path)
    return paths


# One clip per rig for docs/images/retarget_<rig>.png: a walk where there is one.
RIG_RENDER_CLIPS = {
    "cgspeed": "cgspeed/cmu_008_01__motion-viewer.bvh.gz",
    "daz": "daz/cmu_060_01__acrnn_daz.bvh.gz",
    "accad": "accad/accad_Male1_B3_Walk.bvh.gz",
    "fair": "fair/fair1_jumping__animateddrawings.bvh.gz",
}


def render_rigs(out_dir, root=None, clips=RIG_RENDER_CLIPS, fps=30):
    """docs/images/retarget_<rig>.png: one more_bvh clip per rig."""
    from .dataset import load_more_bvh, more_clips

    by_path = {str(c.path): c for c in more_clips(root)}
    paths = []
    for rig, rel in clips.items():
        clip = next(c for p, c in by_path.items() if p.endswith(rel))
        motion = load_more_bvh(clip, fps)
        low = lower_foot(motion)[0]
        path = Path(out_dir) / f"retarget_{rig}.png"
        render(motion, path, title=f"{rig}: {Path(rel).name} ({clip.performer}) retargeted to SMPL-24, {fps:g} fps; "
                                   f"lowest foot joint p5 {100 * np.percentile(low, 5):.1f} cm")
        paths.append(path)
    return paths


def print_feet(motions, key="subject"):
    """A markdown table of contact_stats ranges per subject folder (key="subject") or per meta[key]."""
    groups = {}
    for m in motions:
        name = Path(m.meta["source"]).parent.name if key == "subject" else m.meta[key]
        groups.setdefault(name, []).append(contact_stats(m))
    print(f"| {key} | clips | p5 lowest foot joint (cm) | contact median (cm) | contact p90 (cm) | contact frames | "
          "slide (cm/s) |")
    print("|---|---|---|---|---|---|---|")
    for name, stats in sorted(groups.items()):
        col = {k: np.array([s[k] for s in stats]) for k in stats[0]}
        print(f"| {name} | {len(stats)} | {_span(col['p5_lowest'])} | {_span(col['contact_median'])} "
              f"(median {100 * np.nanmedian(col['contact_median']):.1f}) | {_span(col['contact_p90'])} | "
              f"{_span(col['contact_fraction'])}% | {_span(col['slide'])} |")


def _span(values, factor=100):
    return f"{factor * np.nanmin(values):.1f} to {factor * np.nanmax(values):.1f}"
