"""What every learned refiner shares: checkpoints and Motion <-> tensor features.

A checkpoint is ``refine_core/weights/<method>.pt``: a plain dict (loads with
``torch.load(weights_only=True)``) holding ``config`` (the model dataclass as
a dict), ``state_dict``, ``recipe`` (data, noise, training settings and the
validation numbers it reached) and ``format`` (a version number).
"""
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..atomic import atomic_write
from ..errors import BadInputError
from ..motion import Motion
from ..rotations import continuous_signs

CHECKPOINT_FORMAT = 1
_CACHE = {}
_LOADS = [0]  # checkpoints read from disk by this process (cache misses): the batch reports it


def save_checkpoint(path, model: torch.nn.Module, config, recipe: dict):
    """Write model weights with their config and recipe (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    with atomic_write(path) as f:
        torch.save({"format": CHECKPOINT_FORMAT, "config": asdict(config), "state_dict": state, "recipe": recipe}, f)


def load_model(path, model_class, config_class, device="cpu"):
    """(model in eval mode on ``device``, config, recipe) from a checkpoint; cached per path."""
    path = Path(path)
    key = (str(path), path.stat().st_mtime_ns if path.exists() else None, str(device))
    if key in _CACHE:
        return _CACHE[key]
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
        known = {f.name for f in fields(config_class)}
        config = config_class(**{k: v for k, v in ckpt["config"].items() if k in known})
        model = model_class(config)
        model.load_state_dict(ckpt["state_dict"])
    except Exception as exc:
        raise BadInputError(path, f"cannot load weights ({type(exc).__name__}: {exc})") from None
    model.to(device).eval()
    _CACHE[key] = (model, config, ckpt.get("recipe", {}))
    _LOADS[0] += 1
    return _CACHE[key]


def load_count() -> int:
    """How many checkpoints ``load_model`` has read in this process (not cache hits)."""
    return _LOADS[0]


def motion_tensors(motion: Motion, device="cpu"):
    """(quats (T, 24, 4) sign-continuous, trans (T, 3)) as float32 tensors."""
    quats = torch.as_tensor(continuous_signs(motion.rotations), dtype=torch.float32, device=device)
    trans = torch.as_tensor(motion.trans, dtype=torch.float32, device=device)
    return quats, trans


def tensors_to_motion(motion: Motion, quats: torch.Tensor, trans: torch.Tensor) -> Motion:
    """A copy of ``motion`` with refined quats (T, 24, 4) and trans (T, 3)."""
    q = quats.detach().cpu().double().numpy()
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return motion.replace(rotations=q, trans=trans.detach().cpu().double().numpy())


def joints_from_quats(quats: torch.Tensor, trans: torch.Tensor, rest_joints) -> torch.Tensor:
    """Differentiable FK: quats (..., 24, 4) xyzw, trans (..., 3) -> joints (..., 24, 3)."""
    import roma

    from ..kinematics import fk_positions_torch

    return fk_positions_torch(roma.unitquat_to_rotmat(quats), trans, rest_joints)


def refine_sequence(model_fn, motion: Motion, window: int, stride: int, device="cpu", progress=None,
                    batch: int = 64) -> Motion:
    """Sequence-to-sequence refinement by overlapping windows.

    ``model_fn(quats (B, L, 24, 4), trans (B, L, 3)) -> (quats, trans)`` of the
    same shapes refines each window (the model handles its own normalisation,
    e.g. translation relative to the window). Overlapping outputs are averaged
    (quaternions sign-continuous, then renormalised: the Gramkow mean), so
    every frame is refined and none dropped; windows go ``batch`` at a time
    so memory stays bounded on long motions.
    """
    from ..windows import refine_overlapping

    quats, trans = motion_tensors(motion, device)

    def window_fn(w):
        q, t = model_fn(w[..., :-3].unflatten(-1, (24, 4)), w[..., -3:])
        return torch.cat([q.flatten(2), t], dim=-1)

    merged = refine_overlapping(window_fn, torch.cat([quats.flatten(1), trans], dim=-1), window, stride, progress, batch)
    return tensors_to_motion(motion, merged[:, :-3].reshape(-1, 24, 4), merged[:, -3:])


def gaussian_weights(sigma: float, radius: int, device="cpu") -> torch.Tensor:
    """(2 radius + 1,) normalised Gaussian weights over frame offsets -radius..radius
    (sigma in frames): a fixed low-pass that learned corrections can start from."""
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    w = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return w / w.sum()


def time_accel(x: torch.Tensor) -> torch.Tensor:
    """(B, L, ...) -> (B, L - 2, ...): second differences along time (per frame^2)."""
    return x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]


LOW_PASS_SPAN = 4096  # frames per convolution in low_pass


def low_pass_radius(sigma: float) -> int:
    """Frames each side that ``low_pass`` reads (its Gaussian's 3 sigma)."""
    return int(3 * sigma)


def low_pass(x, sigma: float):
    """Gaussian smoothing over time of (B, L, ...) (edges replicated); sigma in frames, 0: x.

    Quaternions must be sign-continuous; they are renormalised (the chordal mean).
    """
    if sigma <= 0:
        return x
    radius = low_pass_radius(sigma)
    kernel = gaussian_weights(sigma, radius, x.device).to(x.dtype)
    flat = x.flatten(2).transpose(1, 2)  # (B, C, L)
    b, c, l = flat.shape
    padded = F.pad(flat.reshape(b * c, 1, l), (radius, radius), mode="replicate")
    # conv1d unfolds its input (taps x frames): a long motion goes in spans of frames.
    spans = [padded[..., i:i + LOW_PASS_SPAN + 2 * radius] for i in range(0, l, LOW_PASS_SPAN)]
    out = torch.cat([F.conv1d(span, kernel[None, None]) for span in spans], -1)
    out = out.view(b, c, l).transpose(1, 2).reshape(x.shape)
    return F.normalize(out, dim=-1) if x.shape[-1] == 4 else out
