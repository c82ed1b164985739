"""TAR, Temporal-Aware Refinement (tar_temporal_aware_refinement.txt), on pose input.

For each frame, a window of T = 9 frames centred on it (as in the paper)
is read three ways, as in the paper's Figure 2:

1. Global Temporal Encoder: per-frame pose features (24 joint rotations in 6D,
   root translation relative to the centre frame) are embedded and go
   through a transformer encoder; a weighted-average layer (a 1x1 Conv1d
   over the T frame positions, as in the paper's Figure 3a) shrinks the
   sequence to one temporal global feature f of the centre frame.
2. Initial regressor: f becomes 25 disentangled hidden states (24 joint
   rotations + root translation; SMPL's shape and the camera have no
   counterpart here), and an MLP over all of them regresses the initial
   estimate Phi_init as a correction of a fixed Gaussian-weighted mean of the
   window's poses (sigma 2 frames; the input already is a stage-one estimate,
   the paper regresses from image features).
3. Local Temporal Encoder: a bidirectional recurrent encoder over the
   L = 5 nearest frames: a history GRU runs over frames 0..tau, a future GRU
   over frames L-1..tau, and a linear layer joins their last states into
   the local temporal feature m.
4. Recurrent Refinement Module: 25 GRUs, one per joint plus the root
   translation, hidden states initialised with the regressor's hidden
   states. Each of L_iter = 5 iterations builds the feedback signal
   s_l = [m, Phi_l, scaled Phi_l - Phi_base] (eq. 8 without the image
   features sampled at projected markers and the bounding-box vector: m
   stands for the local features),
   updates every GRU (eqs. 1-4 in the paper's form) and adds each GRU's
   regressed step to its own parameters:
   Phi_{l+1} = Phi_l + dPhi_l.

Loss (eq. 14): sum_{l=0}^{L} gamma^{L-l} L_l, gamma = 0.85, with
L_l = lambda_3d |J - J_l|^2 + lambda_smpl |R - R_l|^2 (the 2D reprojection
term has no counterpart without images), plus an acceleration term over
three consecutive centre frames (our addition; see ``iteration_loss``).
"""
from dataclasses import dataclass

import roma
import torch
from torch import nn

from ..kinematics import fk_positions_torch
from ..rotations_torch import quat_to_rot6d, rot6d_to_matrix
from ..windows import CentredWindows
from .common import LearnedMethod, Recipe, gaussian_weights, rowwise_6d_index, time_accel, windows_per_pass

DESCRIPTION = "TAR: temporal transformer plus per-joint GRU refinement iterations"

NUM_JOINTS = 24
NUM_PARAMS = NUM_JOINTS + 1  # one GRU per joint rotation, one for the root translation
POSE_CHANNELS = NUM_JOINTS * 6 + 3  # Phi: 6D rotations + root translation offset
INPUT_CHANNELS = 2 * NUM_JOINTS * 6 + 3  # per frame: 6D rotations, their change from the centre, translation


@dataclass
class TARConfig:
    window: int = 9  # T: frames seen by the global encoder (odd; the paper's 9)
    local: int = 5  # L: frames seen by the local encoder (odd)
    dim: int = 64  # transformer width
    layers: int = 2  # transformer layers (the paper's 4 sized down for a CPU)
    heads: int = 4
    dropout: float = 0.1
    local_dim: int = 64  # local temporal feature m
    hidden: int = 16  # per-parameter GRU state
    iterations: int = 5  # L of eq. 14
    trans_scale: float = 10.0  # metres -> network units
    change_scale: float = 20.0  # weight of the rotations' difference from the centre frame among the inputs
    base_sigma: float = 2.0  # frames: Phi_init corrects a Gaussian-weighted mean of the window (0: the centre frame)


def pose_features(quats, trans):
    """quats (..., 24, 4) xyzw, trans (..., 3) -> (..., 147): the 24 joints' 6D
    rotations and the root translation (metres). Computed once per frame, then windowed."""
    return torch.cat([quat_to_rot6d(quats).flatten(-2), trans], dim=-1)


class GlobalTemporalEncoder(nn.Module):
    """Transformer over the T frames, then a weighted average -> f (B, dim)."""

    def __init__(self, c: TARConfig):
        super().__init__()
        self.embed = nn.Linear(INPUT_CHANNELS, c.dim)
        self.position = nn.Parameter(torch.zeros(1, c.window, c.dim))
        layer = nn.TransformerEncoderLayer(c.dim, c.heads, 2 * c.dim, c.dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.weighted_average = nn.Conv1d(c.window, 1, 1)  # frames as channels: learned weights over time

    def forward(self, x):
        z = self.encoder(self.embed(x) + self.position)  # (B, T, dim)
        return self.weighted_average(z)[:, 0]


class LocalTemporalEncoder(nn.Module):
    """History and future GRUs over the L nearest frames, joined into m (B, local_dim)."""

    def __init__(self, c: TARConfig):
        super().__init__()
        self.embed = nn.Linear(INPUT_CHANNELS, c.local_dim)
        self.history = nn.GRU(c.local_dim, c.local_dim, batch_first=True)
        self.future = nn.GRU(c.local_dim, c.local_dim, batch_first=True)
        self.join = nn.Linear(2 * c.local_dim, c.local_dim)

    def forward(self, x):
        tau = x.shape[1] // 2
        e = torch.relu(self.embed(x))
        _, m_p = self.history(e[:, :tau + 1])
        _, m_f = self.future(e[:, tau:].flip(1))
        return torch.relu(self.join(torch.cat([m_p[0], m_f[0]], dim=-1)))


class DisentangledGRUs(nn.Module):
    """``n`` GRUs run in parallel, all reading the same feedback signal s (B, S);
    states h (B, n, H). Eqs. 1-4 of the paper: h = (1 - z) h + z h~. The
    input weights W_z, W_r, W of all GRUs act on one shared embedding of s
    (a low-rank factorisation that keeps the 25 GRUs cheap on a CPU)."""

    def __init__(self, n, inputs, hidden, embed=64):
        super().__init__()
        self.n, self.hidden = n, hidden
        self.embed = nn.Linear(inputs, embed)
        self.input_proj = nn.Linear(embed, n * 3 * hidden)  # W_z, W_r, W of every GRU
        self.gates_proj = nn.Parameter(torch.randn(n, hidden, 2 * hidden) / hidden ** 0.5)  # U_z, U_r
        self.state_proj = nn.Parameter(torch.randn(n, hidden, hidden) / hidden ** 0.5)  # U

    def forward(self, s, h):
        ws = self.input_proj(torch.relu(self.embed(s))).view(len(s), self.n, 3 * self.hidden)
        zr = torch.sigmoid(ws[..., :2 * self.hidden] + torch.einsum("bnh,nhk->bnk", h, self.gates_proj))
        z, r = zr.chunk(2, dim=-1)
        h_tilde = torch.tanh(ws[..., 2 * self.hidden:] + torch.einsum("bnh,nhk->bnk", r * h, self.state_proj))
        return (1 - z) * h + z * h_tilde


class TAR(nn.Module):
    def __init__(self, config: TARConfig):
        super().__init__()
        self.config = c = config
        self.global_encoder = GlobalTemporalEncoder(c)
        self.to_hidden = nn.Linear(c.dim, NUM_PARAMS * c.hidden)
        self.initial_regressor = nn.Sequential(
            nn.Linear(NUM_PARAMS * c.hidden, 256), nn.ReLU(), nn.Linear(256, POSE_CHANNELS))
        self.local_encoder = LocalTemporalEncoder(c)
        self.grus = DisentangledGRUs(NUM_PARAMS, c.local_dim + 2 * POSE_CHANNELS, c.hidden)
        self.step_weight = nn.Parameter(torch.zeros(NUM_PARAMS, c.hidden, 6))  # 25 regressors; the root uses 3 outputs
        # Zero last layers: before training every estimate is the base (``base``).
        nn.init.zeros_(self.initial_regressor[-1].weight)
        nn.init.zeros_(self.initial_regressor[-1].bias)

    def forward(self, poses):
        """Refine the centre frame of each window.

        poses (B, T, 147) from ``pose_features``.
        Returns the estimates Phi_0 .. Phi_L, each (B, 147): 24 joint 6D
        rotations and the root translation
        relative to the noisy centre frame, x ``trans_scale``.
        """
        c, tau = self.config, poses.shape[1] // 2
        # Rotations also as their difference from the centre frame, scaled up
        # (jitter is ~1% of the pose signal); translation only relative to the
        # centre frame, so the network is translation invariant.
        change = (poses[..., :-3] - poses[:, tau:tau + 1, :-3]) * c.change_scale
        rel = (poses[..., -3:] - poses[:, tau:tau + 1, -3:]) * c.trans_scale
        x = torch.cat([poses[..., :-3], change, rel], dim=-1)
        f = self.global_encoder(x)
        h = torch.tanh(self.to_hidden(f)).view(-1, NUM_PARAMS, c.hidden)
        base = self.base(torch.cat([poses[..., :-3], rel], dim=-1))
        phi = base + self.initial_regressor(h.flatten(1))
        half = c.local // 2
        m = self.local_encoder(x[:, tau - half:tau + half + 1])
        estimates = [phi]
        for _ in range(c.iterations):
            s = torch.cat([m, phi, (phi - base) * c.change_scale], dim=-1)
            h = self.grus(s, h)
            step = torch.einsum("bnh,nhk->bnk", h, self.step_weight)
            phi = phi + torch.cat([step[:, :NUM_JOINTS].flatten(1), step[:, NUM_JOINTS, :3]], dim=-1)
            estimates.append(phi)
        return estimates

    def base(self, x):
        """(B, T, 147) 6D rotations + scaled translation offsets -> (B, 147): the
        centre frame, or the window's Gaussian-weighted mean (``base_sigma``)."""
        tau = x.shape[1] // 2
        if self.config.base_sigma <= 0:
            return x[:, tau]
        return torch.einsum("btc,t->bc", x, gaussian_weights(self.config.base_sigma, tau, x.device))

    def root_trans(self, phi, trans_centre):
        """phi (B, 147), noisy centre translation (B, 3) -> root translation (B, 3) metres."""
        return trans_centre + phi[:, -3:] / self.config.trans_scale


def rotmats(phi):
    """Estimate phi (B, 147) -> joint rotation matrices (B, 24, 3, 3) (Gram-Schmidt of the 6D part)."""
    return rot6d_to_matrix(phi[:, :NUM_JOINTS * 6].view(-1, NUM_JOINTS, 6))


def _run(model: TAR, driver: CentredWindows, quats, trans, rest_joints, offset, progress, settings):
    poses = pose_features(quats, trans)

    def centre_frame(windows):
        phi = model(windows)[-1]
        return torch.cat([roma.rotmat_to_unitquat(rotmats(phi)).flatten(1), phi[:, -3:]], dim=-1)

    out = driver.run(centre_frame, poses, offset, progress, settings["batch"])
    return out[:, :-3].unflatten(-1, (NUM_JOINTS, 4)), model.root_trans(out, trans)


def iteration_loss(model: TAR, batch: dict, rest_joints, lambda_3d: float = 100.0, lambda_smpl: float = 1.0,
                   accel_weight: float = 10.0, gamma: float = 0.85, root_accel_weight: float = 0.0) -> torch.Tensor:
    """Eq. 14, sum_l gamma^(L-l) L_l over the initial estimate and every
    iteration, on three consecutive centre frames (windows of T + 2 frames):

    L_l = lambda_3d (|P - P_l|^2 + |r - r_l|^2) + lambda_smpl |R - R_l|^2
          + accel_weight |accel(P_l) - accel(P)|

    with P the root-relative FK joints, r the root, R the rotation matrices;
    lambda_3d on metres^2 (so x100 ~ decimetres^2), the accel term unsquared.
    The last term is our addition: each frame is estimated from its own
    window, so without it neighbouring estimates need not agree;
    ``root_accel_weight`` adds the same for the root's world position.
    """
    c = model.config
    n, tau = c.window, c.window // 2
    poses = pose_features(batch["noisy_q"], batch["noisy_t"])
    b = len(poses)
    # The three windows as one batch: (3B, T, 147), window k centred on frame tau + k.
    estimates = model(torch.cat([poses[:, k:k + n] for k in range(3)]))
    centres = slice(tau, tau + 3)
    target_r = roma.unitquat_to_rotmat(batch["clean_q"][:, centres])
    target_j = fk_positions_torch(target_r, batch["clean_t"][:, centres], rest_joints)
    target_p, target_root = target_j - target_j[..., :1, :], target_j[..., 0, :]
    noisy_t = batch["noisy_t"][:, centres].transpose(0, 1).reshape(3 * b, 3)

    def per_frame(x):  # (3B, ...) -> (B, 3, ...)
        return x.reshape(3, b, *x.shape[1:]).transpose(0, 1)

    total = 0.0
    for l, phi in enumerate(estimates):
        r = per_frame(rotmats(phi))
        j = fk_positions_torch(r, per_frame(model.root_trans(phi, noisy_t)), rest_joints)
        p, root = j - j[..., :1, :], j[..., 0, :]
        l_3d = (p - target_p).pow(2).sum(-1).mean() + (root - target_root).pow(2).sum(-1).mean()
        l_smpl = (r - target_r).pow(2).sum((-1, -2)).mean()
        l_accel = (time_accel(p) - time_accel(target_p)).norm(dim=-1).mean()
        l_root_accel = (time_accel(root) - time_accel(target_root)).norm(dim=-1).mean()
        l_l = lambda_3d * l_3d + lambda_smpl * l_smpl + accel_weight * l_accel + root_accel_weight * l_root_accel
        total = total + gamma ** (len(estimates) - 1 - l) * l_l
    return total


# accel_weight 80 (was 10) and the root's acceleration term chosen on validation
# (docs/methods/tar.md, "Smoother pose and root"): tar's root was the roughest of the five.
RECIPE = Recipe(loss=iteration_loss, window=lambda c: c.window + 2,
                loss_params={"accel_weight": 80.0, "root_accel_weight": 10.0},
                train={"steps": 2000, "batch": 64, "lr": 1e-3, "threads": 1, "refresh_every": 100})

def migrate_rowwise_6d(state: dict, fmt: int) -> dict:
    """Format-1 weights read 6D row-wise: permute every layer that reads or
    writes the 24 joints' 6D channels (the encoders' embeddings, the initial
    regressor's output, the GRUs' feedback embedding, the step regressors)."""
    rot = rowwise_6d_index(NUM_JOINTS)
    pose = torch.cat([rot, torch.arange(NUM_JOINTS * 6, POSE_CHANNELS)])
    inputs = torch.cat([rot, NUM_JOINTS * 6 + rot, torch.arange(2 * NUM_JOINTS * 6, INPUT_CHANNELS)])
    local = state["local_encoder.join.weight"].shape[0]
    feedback = torch.cat([torch.arange(local), local + pose, local + POSE_CHANNELS + pose])
    state = dict(state)
    for key in ("global_encoder.embed.weight", "local_encoder.embed.weight"):
        state[key] = state[key][:, inputs]
    state["initial_regressor.2.weight"] = state["initial_regressor.2.weight"][pose]
    state["initial_regressor.2.bias"] = state["initial_regressor.2.bias"][pose]
    state["grus.embed.weight"] = state["grus.embed.weight"][:, feedback]
    step = state["step_weight"].clone()
    step[:NUM_JOINTS] = step[:NUM_JOINTS][..., rot[:6]]
    state["step_weight"] = step
    return state


METHOD = LearnedMethod("tar", TAR, TARConfig, driver=lambda config, settings: CentredWindows(config.window),
                       run=_run, recipe=RECIPE, inference=(windows_per_pass(1024),), migrate=migrate_rowwise_6d,
                       guard=0.25)
refine = METHOD.refine
