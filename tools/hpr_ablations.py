"""HPR-Net ablations of docs/methods/hpr.md: chunk length, LayerNorm, the acceleration term.

Each variant trains for a short, equal budget from the same seed and is scored
on the validation split with vibe_like noise (seed 0):

    .venv/bin/python tools/hpr_ablations.py [--steps 600] [--out runs/hpr_ablations.json]
"""
import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from refine_core.bench import corrupted_clips, score  # noqa: E402
from refine_core.refiners.common import load_model, motion_tensors, tensors_to_motion  # noqa: E402
from refine_core.refiners.hpr import HPRConfig, HPRNet, refine_windows  # noqa: E402
from dataclasses import replace  # noqa: E402

from refine_core.train import loop  # noqa: E402
from refine_core.train.data import load_cmu  # noqa: E402

VARIANTS = {
    "N=17, LayerNorm, joint+accel loss (shipped recipe)": ({}, "smooth_joint_loss"),
    "N=9": ({"chunk": 9}, "smooth_joint_loss"),
    "N=33": ({"chunk": 33}, "smooth_joint_loss"),
    "no LayerNorm": ({"layer_norm": False}, "smooth_joint_loss"),
    "paper loss only (L1 joints, centre frame)": ({}, "joint_l1_loss"),
}


def evaluate(path, triples):
    model, _, _ = load_model(path, HPRNet, HPRConfig)

    def run(motion):
        q, t = motion_tensors(motion)
        return tensors_to_motion(motion, *refine_windows(model, q, t))

    return score(triples, run)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--out", default="runs/hpr_ablations.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train_clips = load_cmu(split="train")
    triples = corrupted_clips(load_cmu(split="val"), "vibe_like", 0)
    results = {"steps": args.steps, "noisy input": score(triples)}
    base = loop.RECIPES["hpr"]
    for name, (overrides, loss) in VARIANTS.items():
        window = (lambda c: c.chunk + 2) if loss == "smooth_joint_loss" else (lambda c: c.chunk)
        loop.RECIPES["hpr"] = replace(base, loss=loss, window=window, train=replace(base.train, threads=1))
        path = Path("runs") / f"hpr_ablation_{len(results)}.pt"
        loop.train_method("hpr", out=path, clips=train_clips, steps=args.steps, model_overrides=overrides, log=lambda m: None)
        results[name] = evaluate(path, triples)
        print(name, {k: round(v, 2) for k, v in results[name].items()}, flush=True)
        Path(args.out).write_text(json.dumps(results, indent=2))
    loop.RECIPES["hpr"] = base
    return 0


if __name__ == "__main__":
    sys.exit(main())
