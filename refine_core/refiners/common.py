"""What every learned refiner shares: its declaration, checkpoints, features.

A learned method is one module that declares one ``LearnedMethod``: the
network and its architecture config (saved with the weights), the window
driver and inference settings (code defaults that ``--param`` overrides),
and the training ``Recipe`` (loss, window, budget, noise), kept apart.

A checkpoint is ``refine_core/weights/<method>.pt``: a plain dict (loads with
``torch.load(weights_only=True)``) holding ``config`` (the architecture
dataclass as a dict; unknown keys of older files are ignored),
``state_dict``, ``recipe`` (what training used and reached) and ``format``.
"""
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter1d, median_filter
from scipy.spatial.transform import Rotation

from ..atomic import atomic_write
from ..errors import BadInputError
from ..motion import Motion, rotate_world, up_direction
from ..params import Param, check_params
from ..resources import weights_path
from ..rotations import continuous_signs
from .guard import REACH as GUARD_REACH
from .guard import guard as guarded

TRAIN_FPS = 30.0  # the rate every learned method is trained at (training draws rates around it)
# SMPL-24's hands: mocap has no hand rotations, so no model learnt to move them.
PASSTHROUGH_JOINTS = (22, 23)
ROOT_DEVIATION = 0.03  # body heights a frame's root may stray from its running median, as the networks see it
ROOT_MEDIAN = 9  # frames of that running median (then a Gaussian of ROOT_SIGMA frames)
ROOT_SIGMA = 2.0
ROOT_REACH = ROOT_MEDIAN // 2 + int(4 * ROOT_SIGMA)  # frames each side robust_root reads
GUARD_DEFAULT = 0.5

CHECKPOINT_FORMAT = 2  # 2: 6D rotations in the columns layout everywhere (1: tcn and tar flattened them row-wise)
_CACHE = {}
_LOADS = [0]  # checkpoints read from disk by this process (cache misses): the batch reports it


def rowwise_6d_index(joints: int = 24) -> torch.Tensor:
    """Channel index taking 6D features flattened row-wise from a (3, 2) block
    ([r00, r01, r10, r11, r20, r21] per joint, format-1 tcn and tar) to the
    project's columns layout: ``new = old[..., index]``. Used to migrate
    format-1 weights, whose first and last layers are permuted to match."""
    per_joint = torch.tensor([0, 2, 4, 1, 3, 5])
    return (6 * torch.arange(joints)[:, None] + per_joint).flatten()


def save_checkpoint(path, model: torch.nn.Module, config, recipe: dict):
    """Write model weights with their config and recipe (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    with atomic_write(path) as f:
        torch.save({"format": CHECKPOINT_FORMAT, "config": asdict(config), "state_dict": state, "recipe": recipe}, f)


def load_model(path, model_class, config_class, device="cpu", migrate: Callable | None = None):
    """(model in eval mode on ``device``, config, recipe) from a checkpoint; cached per path.

    ``migrate(state_dict, format) -> state_dict`` updates an older format's weights."""
    path = Path(path)
    key = (str(path), path.stat().st_mtime_ns if path.exists() else None, str(device))
    if key in _CACHE:
        return _CACHE[key]
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
        known = {f.name for f in fields(config_class)}
        config = config_class(**{k: v for k, v in ckpt["config"].items() if k in known})
        model = model_class(config)
        state = ckpt["state_dict"]
        if migrate is not None and ckpt.get("format", 1) < CHECKPOINT_FORMAT:
            state = migrate(state, ckpt.get("format", 1))
        model.load_state_dict(state)
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


def body_height(rest_joints) -> float:
    """The rest skeleton's largest extent (m): the body size root motion is measured in."""
    return max(float(np.ptp(np.asarray(rest_joints), axis=0).max()), 0.5)


def robust_root(trans: np.ndarray, height: float) -> np.ndarray:
    """(T, 3) root translation as the networks see it: each frame within
    ROOT_DEVIATION body heights of a running median (then Gaussian) of the
    track, per axis. Good tracks pass unchanged; metres of per-frame depth
    jitter (camera-space estimators) reach the pose networks as a few
    centimetres, at any scale of the scene."""
    trans = np.asarray(trans, dtype=np.float64)
    if len(trans) < 2:
        return trans.copy()
    size = min(ROOT_MEDIAN, len(trans))
    ref = gaussian_filter1d(median_filter(trans, size=(size, 1), mode="nearest"), ROOT_SIGMA, axis=0, mode="nearest")
    limit = ROOT_DEVIATION * height
    return ref + np.clip(trans - ref, -limit, limit)


def phase_count(fps: float) -> int:
    """How many interleaved streams near TRAIN_FPS a motion at ``fps`` is split into
    (120 fps: 4 streams of 30; 50: 2 of 25; 24: 1)."""
    return max(1, int(round(fps / TRAIN_FPS)))


def joints_from_quats(quats: torch.Tensor, trans: torch.Tensor, rest_joints) -> torch.Tensor:
    """Differentiable FK: quats (..., 24, 4) xyzw, trans (..., 3) -> joints (..., 24, 3)."""
    import roma

    from ..kinematics import fk_positions_torch

    return fk_positions_torch(roma.unitquat_to_rotmat(quats), trans, rest_joints)


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


def low_pass(x, sigma: float, unit: bool = False):
    """Gaussian smoothing over time of (B, L, ...) (edges replicated); sigma in frames, 0: x.

    ``unit``: the last axis holds unit vectors (sign-continuous quaternions),
    renormalised after averaging (the chordal mean).
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
    return F.normalize(out, dim=-1) if unit else out


def windows_per_pass(default: int) -> Param:
    """The ``batch`` inference setting every windowed method has: windows per
    forward pass (for per-frame drivers, one window per frame); it bounds
    memory and never changes the result."""
    return Param("batch", int, default, 1, 1_000_000, "windows per forward pass")


@dataclass(frozen=True)
class Recipe:
    """How a learned method is trained (``train/loop.py`` runs it).

    ``loss(model, batch, rest_joints, **loss_params)``; ``window(config)``: the
    training window length; ``setup(model, pairs, loss_params)``: run once before fitting
    (e.g. fitting data statistics); ``train`` / ``pairs``: overrides of
    ``TrainConfig`` / ``PairConfig``; ``config``: architecture overrides."""

    loss: Callable
    window: Callable
    setup: Callable | None = None
    loss_params: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    pairs: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LearnedMethod:
    """One learned method, declared once in its module.

    ``driver(config, settings)``: the window driver (refine_core/windows.py);
    ``run(model, driver, quats, trans, rest_joints, offset, progress, settings)``
    -> (quats (T, 24, 4), trans (T, 3)) refines a stretch of motion starting at
    absolute frame ``offset``; ``inference``: the settings ``--param`` may set."""

    name: str
    network: type
    config: type
    driver: Callable
    run: Callable
    recipe: Recipe
    inference: tuple = ()
    migrate: Callable | None = None  # (state_dict, format) -> state_dict for older checkpoints
    guard: float = GUARD_DEFAULT  # the guard's default strength, chosen on the validation split

    @property
    def params(self) -> tuple:
        """Every inference setting: the method's own and the guard (refiners/guard.py)."""
        return self.inference + (Param("guard", float, self.guard, 0.0, 1000.0,
                                       "how many noise levels the output may move from the input (0: no guard)"),)

    def settings(self, params: dict | None = None) -> dict:
        return check_params(self.name, self.params, params)

    def load(self, device: str = "cpu", weights=None):
        """(model in eval mode, config) from the shipped (or a given) checkpoint."""
        model, config, _ = load_model(weights or weights_path(self.name), self.network, self.config, device, self.migrate)
        return model, config

    def context(self, params: dict | None = None, device: str = "cpu", fps: float = TRAIN_FPS) -> int:
        """Frames of context a ranged refinement needs on each side (the driver's
        reach, the root's and the guard's, in every interleaved stream)."""
        reach = self.driver(self.load(device)[1], self.settings(params)).context + ROOT_REACH
        return max(reach, GUARD_REACH) * phase_count(fps)

    def refine(self, motion: Motion, device: str = "cpu", progress=None, offset: int = 0, weights=None,
               **params) -> Motion:
        """The method on a whole motion (or a stretch of one starting at absolute frame ``offset``).

        What every learned method shares: a motion far from TRAIN_FPS is refined
        as interleaved streams near it (frames 0, 4, 8, .. of a 120 fps file are
        its 30 fps version, refined exactly as that file would be); a world
        with another up axis (meta["up_axis"]: AMASS Z, camera -Y) is turned
        to the Y up the models were trained in and back; the networks see
        the root through ``robust_root``; the hands pass through; the guard
        bounds the result around the input."""
        up = up_direction(motion.meta.get("up_axis"))
        to_y_up = None if up[1] == 1.0 else Rotation.align_vectors([[0.0, 1.0, 0.0]], [up])[0].as_matrix()
        if to_y_up is not None:
            motion = rotate_world(motion, to_y_up)
        settings = self.settings(params)
        model, config = self.load(device, weights)
        driver = self.driver(config, settings)
        rest = torch.as_tensor(motion.skeleton.rest_joints, dtype=torch.float32, device=device)
        height = body_height(motion.skeleton.rest_joints)
        quats, trans = continuous_signs(motion.rotations), np.asarray(motion.trans, dtype=np.float64)
        out_q, out_t = quats.copy(), trans.copy()
        streams = phase_count(motion.fps)
        for phase in range(streams):
            first = (phase - offset) % streams  # the stretch's first row of this stream
            if first >= len(quats):
                continue
            rows = slice(first, None, streams)
            step = None if progress is None else (lambda f, k=phase: progress((k + f) / streams))
            q, t = self.run(model, driver, torch.as_tensor(quats[rows], dtype=torch.float32, device=device),
                            torch.as_tensor(robust_root(trans[rows], height), dtype=torch.float32, device=device),
                            rest, (offset + first) // streams, step, settings)
            q = q.detach().cpu().double().numpy()
            q /= np.linalg.norm(q, axis=-1, keepdims=True)
            q = np.where((q * quats[rows]).sum(-1, keepdims=True) < 0, -q, q)
            q[:, PASSTHROUGH_JOINTS] = quats[rows][:, PASSTHROUGH_JOINTS]
            t = t.detach().cpu().double().numpy()
            if settings["guard"] > 0:
                q, t = guarded(quats[rows], trans[rows], q, t, settings["guard"], (offset + first) // streams)
            out_q[rows], out_t[rows] = q, t
        refined = motion.replace(rotations=out_q, trans=out_t)
        return refined if to_y_up is None else rotate_world(refined, to_y_up.T)
