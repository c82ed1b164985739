"""Regenerate the bundled example: 300 frames of real mocap with estimator-like noise.

CMU clip 001_01 (playground climbing and jumping, a validation subject),
retargeted to SMPL-24 at 30 fps (refine_core.train.data), corrupted by the
``vibe_like`` preset with seed 0. Writes the noisy motion and its clean
ground truth, so `eval` can score a refinement:

    .venv/bin/python examples/make_example.py
    .venv/bin/python -m refine_core refine examples/playground_vibe_like.npz -o refined.npz --method hpr
    .venv/bin/python -m refine_core eval refined.npz examples/playground_clean.npz
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from refine_core.formats import write_npz  # noqa: E402
from refine_core.train.data import data_root, load_bvh  # noqa: E402
from refine_core.train.noise import corrupt  # noqa: E402

CLIP, FRAMES, PRESET, SEED = "001/001_01.bvh", 300, "vibe_like", 0


def main():
    clean = load_bvh(data_root() / CLIP, fps=30).slice(0, FRAMES)
    clean.meta = {"source": f"CMU {CLIP}", "gender": "neutral"}
    noisy, mask = corrupt(clean, PRESET, SEED)
    noisy.meta = {"source": f"CMU {CLIP} + {PRESET} noise (seed {SEED})", "gender": "neutral",
                  "extras": {"corrupted_frames": mask}}
    write_npz(clean, HERE / "playground_clean.npz")
    write_npz(noisy, HERE / "playground_vibe_like.npz")
    print(f"wrote {HERE / 'playground_vibe_like.npz'} and playground_clean.npz ({FRAMES} frames, {mask.sum()} corrupted)")


if __name__ == "__main__":
    main()
