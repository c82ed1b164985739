"""The one training loop: seeded, short, explicit (nanoGPT style).

Each learned method gives a ``Recipe``: its model and config classes, its
loss on a batch of (noisy, clean) windows, the window length it trains on
and its step budget. ``train_method`` builds the pairs from the training
split, fits, measures the validation split and writes the weights file with
the config and the recipe that produced it.
"""
import importlib
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch

from ..refiners import WEIGHTS_DIR
from ..refiners.common import save_checkpoint
from .pairs import NoisyPairs, PairConfig


@dataclass
class TrainConfig:
    steps: int = 3000
    batch: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    refresh_every: int = 300  # steps between fresh augmentation + corruption of all clips
    seed: int = 0
    threads: int = 2
    log_every: int = 100


@dataclass
class Recipe:
    module: str  # refine_core.refiners.<module>
    model: str  # class names inside it
    config: str
    loss: str
    window: Callable  # config -> training window length
    setup: str = ""  # optional module function (model, pairs) run before fit, e.g. fitting data statistics
    model_config: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    pairs: PairConfig = field(default_factory=PairConfig)


RECIPES = {
    "hpr": Recipe("hpr", "HPRNet", "HPRConfig", "smooth_joint_loss", window=lambda c: c.chunk + 2,
                  train=TrainConfig(steps=12000, batch=96, lr=2e-3, threads=1)),
    "diffusion": Recipe("diffusion", "PoseDenoiser", "DiffusionConfig", "diffusion_loss", window=lambda c: c.window,
                        setup="fit_error_model", train=TrainConfig(steps=4000, batch=24, lr=2e-3, threads=1)),
    "tcn": Recipe("tcn", "TCN", "TCNConfig", "mpjpe_loss", window=lambda c: c.out_frames + c.receptive_field - 1,
                  train=TrainConfig(steps=1200, batch=16, lr=1e-3, threads=1, refresh_every=100),
                  pairs=PairConfig(extra_white_noise_deg=1.0)),
    "tar": Recipe("tar", "TAR", "TARConfig", "iteration_loss", window=lambda c: c.window + 2,
                  train=TrainConfig(steps=2000, batch=64, lr=1e-3, threads=1, refresh_every=100)),
    "ugcn": Recipe("ugcn", "UGCN", "UGCNConfig", "motion_loss", window=lambda c: c.window,
                   train=TrainConfig(steps=2400, batch=16, lr=2e-3, threads=1)),
}


def fit(model, loss_fn, pairs: NoisyPairs, window: int, cfg: TrainConfig, log=print) -> list:
    """AdamW with a cosine learning-rate decay; returns the loss history (per log step)."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps)))
    rest = pairs.rest_joints
    history, running, start = [], 0.0, time.time()
    model.train()
    for step in range(1, cfg.steps + 1):
        if step % cfg.refresh_every == 0:
            pairs.refresh()
        loss = loss_fn(model, pairs.sample(cfg.batch, window), rest)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running += loss.item()
        if step % cfg.log_every == 0 or step == cfg.steps:
            n = cfg.log_every if step % cfg.log_every == 0 else step % cfg.log_every
            history.append(running / n)
            log(f"step {step:5d}/{cfg.steps}  loss {running / n:.5f}  {time.time() - start:6.0f}s")
            running = 0.0
    model.eval()
    return history


def train_method(name: str, out: Path = None, clips=None, steps: int = None, seed: int = 0,
                 model_overrides: dict = None, pair_overrides: dict = None, log=print) -> dict:
    """Train ``name`` on the training split (or ``clips``) and write its weights.

    Returns the recipe dict stored in the checkpoint (with the training time).
    """
    from .data import load_cmu

    recipe = RECIPES[name]
    module = importlib.import_module(f"...refiners.{recipe.module}", __name__)
    config = getattr(module, recipe.config)(**{**recipe.model_config, **(model_overrides or {})})
    train_cfg = replace(recipe.train, seed=seed, **({"steps": steps} if steps else {}))
    pair_cfg = replace(recipe.pairs, **(pair_overrides or {}))
    torch.manual_seed(seed)
    torch.set_num_threads(train_cfg.threads)
    clips = load_cmu(split="train") if clips is None else clips
    pairs = NoisyPairs(clips, pair_cfg, seed=seed)
    model = getattr(module, recipe.model)(config)
    started = time.time()
    if recipe.setup:
        getattr(module, recipe.setup)(model, pairs)
    history = fit(model, getattr(module, recipe.loss), pairs, recipe.window(config), train_cfg, log=log)
    info = {
        "method": name,
        "data": "CMU mocap retargeted to SMPL-24 (refine_core.train.data), training subjects, 30 fps",
        "train_frames": int(sum(c.num_frames for c in clips)),
        "pairs": pair_cfg.as_dict(),
        "train": asdict(train_cfg),
        "train_seconds": round(time.time() - started, 1),
        "final_loss": history[-1],
        "torch": str(torch.__version__),
    }
    out = Path(out) if out else WEIGHTS_DIR / f"{name}.pt"
    save_checkpoint(out, model, config, info)
    log(f"wrote {out} ({info['train_seconds']} s)")
    return info
