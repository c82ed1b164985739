"""The one training loop: seeded, short, explicit (nanoGPT style).

Each learned method declares its ``Recipe`` in its own module (loss, training
window, budget, noise; refine_core/refiners/common.py). ``train_method``
builds the pairs from the training split, fits, and writes the weights file
with the architecture config and the recipe that produced it.
"""
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..errors import BadInputError
from ..refiners import METHODS
from ..refiners.common import save_checkpoint
from ..resources import weights_path
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


def trainable() -> list:
    """Names of the methods that have a training recipe (every learned one)."""
    return [name for name, m in METHODS.items() if m.kind == "learned"]


def declaration(name: str):
    if name not in trainable():
        raise BadInputError(f"train {name}", f"no training recipe; trainable: {', '.join(trainable())}")
    return METHODS[name].declaration()


def fit(model, loss_fn, pairs: NoisyPairs, window: int, cfg: TrainConfig, log=print, loss_params=None) -> list:
    """AdamW with a cosine learning-rate decay; returns the loss history (per log step)."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps)))
    rest = pairs.rest_joints
    history, running, start = [], 0.0, time.time()
    model.train()
    for step in range(1, cfg.steps + 1):
        if step % cfg.refresh_every == 0:
            pairs.refresh()
        loss = loss_fn(model, pairs.sample(cfg.batch, window), rest, **(loss_params or {}))
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
                 model_overrides: dict = None, pair_overrides: dict = None, loss_overrides: dict = None,
                 recipe=None, log=print) -> dict:
    """Train ``name`` on the training split (or ``clips``) and write its weights.

    ``model_overrides`` change the architecture config, ``loss_overrides`` the
    recipe's loss parameters, ``pair_overrides`` its noise, ``recipe`` replaces
    the declared recipe (ablations).
    Returns the recipe dict stored in the checkpoint (with the training time).
    """
    from .dataset import load_clips

    method = declaration(name)
    recipe = recipe or method.recipe
    config = method.config(**{**recipe.config, **(model_overrides or {})})
    train_cfg = replace(TrainConfig(**recipe.train), seed=seed, **({"steps": steps} if steps else {}))
    pair_cfg = PairConfig(**{**recipe.pairs, **(pair_overrides or {})})
    loss_params = {**recipe.loss_params, **(loss_overrides or {})}
    torch.manual_seed(seed)
    torch.set_num_threads(train_cfg.threads)
    clips = load_clips("train") if clips is None else clips
    pairs = NoisyPairs(clips, pair_cfg, seed=seed)
    model = method.network(config)
    started = time.time()
    if recipe.setup is not None:
        recipe.setup(model, pairs, loss_params)
    history = fit(model, recipe.loss, pairs, recipe.window(config), train_cfg, log=log, loss_params=loss_params)
    info = {
        "method": name,
        "data": "CMU and more_bvh mocap retargeted to SMPL-24 (refine_core.train.dataset), training performers, 30 fps",
        "train_frames": int(sum(c.num_frames for c in clips)),
        "pairs": pair_cfg.as_dict(),
        "train": asdict(train_cfg),
        "loss": loss_params,
        "train_seconds": round(time.time() - started, 1),
        "final_loss": history[-1],
        "torch": str(torch.__version__),
    }
    out = Path(out) if out else weights_path(name)
    save_checkpoint(out, model, config, info)
    log(f"wrote {out} ({info['train_seconds']} s)")
    return info
