"""D3PRefiner (d3prefiner_diffusion.txt): a diffusion denoiser whose reverse
process starts at the noisy motion.

Adapted to SMPL motion (../shared/papers/README.md): a frame is 24 local
joint rotations in 6D (Zhou et al.: the first two matrix columns) plus the
root translation (decimetres, relative to the window's mean noisy position),
147 numbers. The noisy motion is ``y = x0 + e``.

- Conditional noisy-pose distribution (paper III-B, Eq. 4-6): one joint
  Gaussian of (c, e) per frame, fitted on training pairs, with the condition
  c the noisy frame's 6D rotations (our input has no 2D keypoints); the
  forward process draws its error from e | c ~ N(mu_e + A (c - mu_c), L L^T),
  A = S_ec S_cc^-1, L L^T = S_ee - A S_ce. Its factors are buffers of the
  model, so they travel inside the checkpoint.
- Forward process and DDIM sampler (schedule.py): x_t mixes x0 with the
  noisy motion x0 + e; x_T = y exactly, so inference starts at the input.
- Our change: y is first low-passed over time by a fixed Gaussian
  (``input_sigma``, ``PoseDenoiser.prefilter``) and the Gaussian above is
  fitted on that motion, so the network never has to reproduce per-frame
  jitter to cancel it (docs/methods/diffusion.md: accel error 8.50 -> 5.83).
- PoseDenoiser (paper III-C1): an input projection to one token per joint
  plus one for the root translation, stacked spatio-temporal denoising blocks
  (a dilated temporal convolution, a learned dense mixing over joints, an
  MLP, each residual, with the timestep embedding injected into every block
  by a scale and shift), an output projection that predicts the error
  normalised by its per-dimension std ("the output is normalised by its
  average value"). The network also sees the condition y.
- Loss (Eq. 7): MSE of the normalised error, plus an optional L1 on FK joints
  of the implied clean motion.
"""
import math
from dataclasses import dataclass

import roma
import torch
import torch.nn.functional as F
from torch import nn

from ..kinematics import fk_positions_torch
from ..params import Param
from ..rotations_torch import quat_to_rot6d, rot6d_to_matrix
from ..windows import OverlappingWindows
from .common import (
    LearnedMethod,
    Recipe,
    gaussian_weights,
    joints_from_quats,
    low_pass,
    low_pass_radius,
    time_accel,
    windows_per_pass,
)
from .schedule import CosineSchedule, ScheduleConfig, ddim_sample

DESCRIPTION = "D3PRefiner: diffusion denoiser whose reverse process starts at the noisy motion"

NUM_JOINTS = 24
ROT_DIM = NUM_JOINTS * 6  # 144
FEAT_DIM = ROT_DIM + 3  # 147
TRANS_SCALE = 10.0  # metres -> decimetres, so root errors weigh like 6D ones


@dataclass
class DiffusionConfig:
    width: int = 32  # channels per token
    depth: int = 4  # denoising blocks (the paper's ablation: 4 ... 10)
    kernel: int = 3  # temporal convolution; dilations 1, 2, 4, 8 repeat
    window: int = 64  # frames per window (training and inference)
    diffusion_steps: int = 50  # T
    input_sigma: float = 2.0  # frames: fixed Gaussian low-pass of the noisy motion before denoising (0: none)
    error_sigma: float = 0.0  # frames: fixed Gaussian low-pass of the predicted error (0: none)


# ------------------------------------------------------------ features


def to_features(quats: torch.Tensor, trans: torch.Tensor, origin: torch.Tensor) -> torch.Tensor:
    """quats (B, L, 24, 4) xyzw, trans (B, L, 3) m, origin (B, 1, 3) m -> (B, L, 147)."""
    return torch.cat([quat_to_rot6d(quats).flatten(-2), (trans - origin) * TRANS_SCALE], dim=-1)


def to_rotmats(features: torch.Tensor) -> torch.Tensor:
    """(..., 147) features -> (..., 24, 3, 3) rotation matrices (Gram-Schmidt)."""
    return rot6d_to_matrix(features[..., :ROT_DIM].unflatten(-1, (NUM_JOINTS, 6)))


def to_trans(features: torch.Tensor, origin: torch.Tensor) -> torch.Tensor:
    """(B, L, 147) features, origin (B, 1, 3) -> trans (B, L, 3) metres."""
    return features[..., ROT_DIM:] / TRANS_SCALE + origin


# ------------------------------------------- conditional noisy-pose distribution


class ConditionalGaussian(nn.Module):
    """e | c for per-frame condition c (144,) and error e (147,); buffers hold
    the fitted factors (zeros until ``fit``).

    The paper draws each frame's error independently. An estimator's error is
    mostly a bias that holds for seconds, so (our extension, ``fit(...,
    lengths=)``) the whitened residual of each dimension is split into a part
    constant over a window (its measured share, ``static_fraction``) and a part
    that varies frame to frame; sequences drawn so look like the real error."""

    def __init__(self, cond_dim: int = ROT_DIM, err_dim: int = FEAT_DIM):
        super().__init__()
        self.register_buffer("mu_c", torch.zeros(cond_dim))
        self.register_buffer("mu_e", torch.zeros(err_dim))
        self.register_buffer("gain", torch.zeros(err_dim, cond_dim))  # A = S_ec S_cc^-1
        self.register_buffer("scale_tril", torch.zeros(err_dim, err_dim))  # chol of the conditional cov
        self.register_buffer("err_std", torch.ones(err_dim))  # marginal std: the output normalisation
        self.register_buffer("static_fraction", torch.zeros(err_dim))  # 0: the paper's per-frame draws

    @torch.no_grad()
    def fit(self, cond: torch.Tensor, err: torch.Tensor, ridge: float = 1e-4, lengths=None, window: int = 64):
        """Fit on (N, cond_dim) conditions and (N, err_dim) errors (float64 inside).

        ``lengths``: the frames of each clip, in order, when the rows are clip
        sequences: then the static share is measured over ``window``-frame windows."""
        z = torch.cat([cond, err], dim=-1).double()
        mu = z.mean(0)
        cov = torch.cov(z.T)
        dc = cond.shape[-1]
        s_cc, s_ce, s_ee = cov[:dc, :dc], cov[:dc, dc:], cov[dc:, dc:]
        # 6D columns are unit and orthogonal, so S_cc is near singular: a small ridge.
        s_cc = s_cc + ridge * s_cc.diagonal().mean() * torch.eye(dc, dtype=cov.dtype)
        gain = torch.linalg.solve(s_cc, s_ce).T
        cond_cov = s_ee - gain @ s_ce
        cond_cov = 0.5 * (cond_cov + cond_cov.T) + 1e-8 * torch.eye(len(cond_cov), dtype=cov.dtype)
        self.mu_c.copy_(mu[:dc])
        self.mu_e.copy_(mu[dc:])
        self.gain.copy_(gain)
        self.scale_tril.copy_(torch.linalg.cholesky(cond_cov))
        self.err_std.copy_(s_ee.diagonal().sqrt().clamp_min(1e-6))
        self.static_fraction.zero_()
        if lengths is not None:
            residual = err.double() - mu[dc:] - (cond.double() - mu[:dc]) @ gain.T
            white = torch.linalg.solve_triangular(self.scale_tril.double(), residual.T, upper=False).T
            means = [part[:len(part) // window * window].view(-1, window, part.shape[-1]).mean(1)
                     for part in white.split(list(lengths)) if len(part) >= window]
            self.static_fraction.copy_(torch.cat(means).pow(2).mean(0).clamp(0.0, 1.0))

    def sample(self, cond: torch.Tensor, jitter_sigma: float = 0.0) -> torch.Tensor:
        """(B, L, cond_dim) conditions -> (B, L, err_dim) errors drawn from e | c;
        the varying part low-passed over ``jitter_sigma`` frames (unit variance kept)."""
        mean = self.mu_e + (cond - self.mu_c) @ self.gain.T
        varying = torch.randn_like(mean)
        if jitter_sigma > 0:
            kernel = gaussian_weights(jitter_sigma, low_pass_radius(jitter_sigma), mean.device)
            varying = low_pass(varying, jitter_sigma) / kernel.pow(2).sum().sqrt()
        rho = self.static_fraction
        z = rho.sqrt() * torch.randn_like(mean[..., :1, :]) + (1 - rho).sqrt() * varying
        return mean + z @ self.scale_tril.T


# ------------------------------------------------------------ PoseDenoiser


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (B,) integer timesteps -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class DenoisingBlock(nn.Module):
    """One spatio-temporal block on (B, L, N, C) tokens, N = 24 joints + root.

    temporal: depthwise dilated convolution over frames per token and channel,
    then a channel projection; spatial: a learned dense mixing over tokens (a
    graph convolution whose adjacency is learned); then an MLP. The timestep
    embedding modulates the first norm (scale, shift)."""

    def __init__(self, tokens: int, width: int, kernel: int, dilation: int):
        super().__init__()
        self.norm_t = nn.LayerNorm(width, elementwise_affine=False)
        self.film = nn.Linear(width, 2 * width)
        self.dilation = dilation
        self.temporal = nn.Parameter(torch.randn(kernel, tokens, width) / math.sqrt(kernel))  # depthwise taps
        self.proj_t = nn.Linear(width, width)
        self.norm_s = nn.LayerNorm(width)
        self.mix = nn.Linear(tokens, tokens)
        self.norm_m = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def temporal_conv(self, h: torch.Tensor) -> torch.Tensor:
        """Depthwise dilated convolution over frames of (B, L, N, C), zero padded,
        as a sum of shifted copies (far faster on CPU than a grouped Conv1d here)."""
        k, d, l = len(self.temporal), self.dilation, h.shape[1]
        padded = F.pad(h, (0, 0, 0, 0, d * (k // 2), d * (k // 2)))
        return sum(self.temporal[i] * padded[:, i * d:i * d + l] for i in range(k))

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(temb)[:, None, None].chunk(2, dim=-1)
        h = self.norm_t(x) * (1 + scale) + shift
        x = x + self.proj_t(F.gelu(self.temporal_conv(h)))
        x = x + self.mix(self.norm_s(x).transpose(2, 3)).transpose(2, 3)
        return x + self.mlp(self.norm_m(x))


class PoseDenoiser(nn.Module):
    """Predicts the normalised error of x_t given the condition y and t.

    Also owns the fitted conditional Gaussian (``error_model``) and the schedule.
    """

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        self.config = config
        w, tokens = config.width, NUM_JOINTS + 1
        self.joint_in = nn.Linear(12, w)  # 6D of x_t and of y
        self.root_in = nn.Linear(6, w)  # translation of x_t and of y
        self.token_embed = nn.Parameter(torch.randn(tokens, w) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(w, w), nn.GELU(), nn.Linear(w, w))
        self.blocks = nn.ModuleList(
            DenoisingBlock(tokens, w, config.kernel, 2 ** (i % 4)) for i in range(config.depth)
        )
        self.norm_out = nn.LayerNorm(w)
        self.joint_out = nn.Linear(w, 6)
        self.root_out = nn.Linear(w, 3)
        for layer in (self.joint_out, self.root_out):  # start as "no error": the identity refiner
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.error_model = ConditionalGaussian()
        self.schedule = CosineSchedule(ScheduleConfig(steps=config.diffusion_steps))

    def forward(self, x_t: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t, y (B, L, 147); t (B,) ints in [1, T] -> normalised error (B, L, 147)."""
        b, l, _ = x_t.shape
        joints = torch.cat([x_t[..., :ROT_DIM].unflatten(-1, (NUM_JOINTS, 6)),
                            y[..., :ROT_DIM].unflatten(-1, (NUM_JOINTS, 6))], dim=-1)
        root = torch.cat([x_t[..., ROT_DIM:], y[..., ROT_DIM:]], dim=-1)
        x = torch.cat([self.joint_in(joints), self.root_in(root)[:, :, None]], dim=2) + self.token_embed
        temb = self.time_mlp(timestep_embedding(t, self.config.width))
        for block in self.blocks:
            x = block(x, temb)
        x = self.norm_out(x)
        error = torch.cat([self.joint_out(x[:, :, :NUM_JOINTS]).flatten(2), self.root_out(x[:, :, NUM_JOINTS])], dim=-1)
        return low_pass(error, self.config.error_sigma)

    def prefilter(self, y: torch.Tensor) -> torch.Tensor:
        """The motion the reverse process starts at: y low-passed by ``input_sigma``
        (``refine`` low-passes the whole motion once, so no window edge is padded).

        Why: the per-frame jitter is what the error's MSE weighs least, and a
        network that must reproduce it exactly leaves some in its output; a
        fixed low-pass removes it, and the learned error is then a smooth one."""
        return low_pass(y, self.config.input_sigma)

    def predict_error(self, x_t, y, t):
        """The error in feature units (de-normalised)."""
        return self(x_t, y, t) * self.error_model.err_std

    def denoise(self, y: torch.Tensor, steps: int) -> torch.Tensor:
        """(B, L, 147) prefiltered noisy features -> clean estimate, K = ``steps`` DDIM steps from x_T = y."""
        return ddim_sample(lambda x, t: self.predict_error(x, y, t), y, self.schedule, steps)


# ------------------------------------------------------------ training


def window_features(batch: dict):
    """(x0, y, origin) features of a batch of clean/noisy windows (pairs.sample)."""
    origin = batch["noisy_t"].mean(dim=1, keepdim=True)
    return (to_features(batch["clean_q"], batch["clean_t"], origin),
            to_features(batch["noisy_q"], batch["noisy_t"], origin), origin)


@torch.no_grad()
def fit_error_model(model: PoseDenoiser, pairs, loss_params: dict, refreshes: int = 3):
    """Training setup: fit the conditional Gaussian of (c, e) on every frame of the
    training pairs, over ``refreshes`` fresh corruptions of the clips (with the
    temporal structure when the loss's ``temporal_noise`` is on)."""
    conds, errs, lengths = [], [], []
    for i in range(refreshes):
        if i:
            pairs.refresh()
        d = pairs.data
        origin = torch.zeros(1, 1, 3)  # a frame's translation error does not depend on the origin
        x0 = to_features(d["clean_q"][None], d["clean_t"][None], origin)[0]
        y = to_features(d["noisy_q"][None], d["noisy_t"][None], origin)
        y = torch.cat([model.prefilter(y[:, s:s + n])[0] for s, n in zip(pairs.starts, pairs.lengths, strict=False)])
        conds.append(y[:, :ROT_DIM])
        errs.append(y - x0)
        lengths.extend(int(n) for n in pairs.lengths)
    model.error_model.fit(torch.cat(conds), torch.cat(errs),
                          lengths=lengths if loss_params.get("temporal_noise") else None, window=model.config.window)


def diffusion_loss(model: PoseDenoiser, batch: dict, rest_joints, forward_noise: str = "conditional",
                   fk_weight: float = 1.0, accel_weight: float = 30.0, temporal_noise: bool = False) -> torch.Tensor:
    """Eq. 7: MSE between predicted and drawn error (normalised), plus L1 on the FK
    joints (metres) of the implied clean motion (``fk_weight``) and on their
    accelerations (``accel_weight``, metres / frame^2).

    ``forward_noise``: "conditional" (the paper) or "paired" (the real error
    y - x0, an ablation); ``temporal_noise``: the forward noise gets the
    error's measured temporal structure (ours; ``fit_error_model`` too).

    Why the acceleration term: the error's variance is mostly bias, so the MSE
    barely weighs the frame-to-frame jitter that the accel error measures."""
    cfg = model.config
    x0, y, origin = window_features(batch)
    # Training windows are low-passed on their own (edges replicated); the shipped
    # weights were trained so. Low-passing with real context frames instead,
    # as refine does, was tried: no better (docs/methods/diffusion.md).
    y = model.prefilter(y)
    if forward_noise == "conditional":
        error = model.error_model.sample(y[..., :ROT_DIM], cfg.input_sigma if temporal_noise else 0.0)
    else:
        error = y - x0
    t = torch.randint(1, cfg.diffusion_steps + 1, (len(x0),), device=x0.device)
    x_t = model.schedule.q_sample(x0, error, t)
    pred = model(x_t, y, t)
    loss = F.mse_loss(pred, error / model.error_model.err_std)
    if fk_weight > 0 or accel_weight > 0:
        x0_hat = model.schedule.predict_x0(x_t, pred * model.error_model.err_std, t)
        joints = fk_positions_torch(to_rotmats(x0_hat), to_trans(x0_hat, origin), rest_joints)
        target = joints_from_quats(batch["clean_q"], batch["clean_t"], rest_joints)
        loss = loss + fk_weight * (joints - target).abs().mean()
        loss = loss + accel_weight * (time_accel(joints) - time_accel(target)).abs().mean()
    return loss


# ------------------------------------------------------------ inference


def _run(model: PoseDenoiser, driver: OverlappingWindows, quats, trans, rest_joints, offset, progress, settings):
    """Low-passed once (``prefilter``), then overlapping windows, each centred on
    its mean position and denoised by K DDIM steps from the low-passed noisy
    window; 6D rotations and translations averaged where windows overlap (then
    Gram-Schmidt). Every frame refined, short motions edge-padded."""
    no_origin = torch.zeros(1, 1, 3, device=quats.device)
    with torch.no_grad():
        start = model.prefilter(to_features(quats[None], trans[None], no_origin))[0]

    def window_fn(y):
        origin = F.pad(y[..., ROT_DIM:].mean(1, keepdim=True), (ROT_DIM, 0))  # the window's mean position
        return model.denoise(y - origin, settings["steps"]) + origin

    clean = driver.run(window_fn, start, offset, progress, settings["batch"])
    q = roma.rotmat_to_unitquat(to_rotmats(clean))
    q = torch.where((q * quats).sum(-1, keepdim=True) < 0, -q, q)  # the input's sign-continuous hemisphere
    return q, to_trans(clean[None], no_origin)[0]


RECIPE = Recipe(loss=diffusion_loss, window=lambda c: c.window, setup=fit_error_model,
                train={"steps": 3000, "batch": 24, "lr": 2e-3, "threads": 1})

METHOD = LearnedMethod(
    name="diffusion", network=PoseDenoiser, config=DiffusionConfig,
    # The whole stretch is low-passed before windowing: its reach is context too.
    driver=lambda config, settings: OverlappingWindows(config.window, settings["stride"], low_pass_radius(config.input_sigma)),
    run=_run,
    inference=(Param("steps", int, 2, 1, 50, "K, DDIM steps from the noisy motion"),
               Param("stride", int, 32, 1, 64, "frames between overlapping windows (at most the 64-frame window)"),
               windows_per_pass(64)),
    recipe=RECIPE,
    guard=0.25,
)
refine = METHOD.refine
