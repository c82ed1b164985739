"""UGCN + motion loss (ugcn_motion_loss.txt): a U-shaped spatio-temporal graph network.

The paper lifts 2D keypoint sequences to 3D; here (papers/README.md) the
input is the noisy SMPL sequence and the output corrects it. Each window of
L frames becomes a spatio-temporal graph: one node per SMPL-24 joint per
frame, carrying the joint's local rotation (6D) and its FK position relative
to the window's mean pelvis position (so the root translation is seen too).

- ST-GCN block: spatial graph convolution on the SMPL-24 tree with three
  subsets by hop distance to the pelvis (the joint itself, its neighbour
  closer to the pelvis, its neighbours farther away; one weight matrix per
  subset, each normalised by the subset's size), then a temporal
  convolution, with batch normalisation, dropout, ReLU and a residual.
- U-shape on time: a downsampling stage (a block, then per level a stride-2
  block and a block), an upsampling stage (per level a block followed by a
  nearest-neighbour x2 upsampling, x_up(t) = x(floor(t / 2)), plus the skip
  features of the downsampling stage at the same resolution), a merging
  stage that brings every upsampling output to full resolution and fuses
  them (sum of 1x1 projections).
- ST-GCN regressor: per joint a 6D rotation correction, composed on the
  right (in the joint's own frame, as the estimator error), and on the
  pelvis node a root translation correction. The corrections apply to a
  fixed Gaussian low-pass of the input (``base_sigma``): corrections of the
  raw input would have to reproduce its per-frame jitter exactly to cancel
  it. The corrections are themselves low-passed (``correction_sigma``, fixed,
  inside the model, so training sees it): otherwise their own frame-to-frame
  noise is what keeps the accel error above a filter's. The heads start at
  zero, so an untrained model returns that base.

Node features are seen from the window's mean heading (a turn about +Y) and
mean pelvis position, so a motion turned about the vertical is refined the
same, turned.

Loss: L = L_rec + lambda L_motion (+ mu L_accel, our addition: the L1 of
the FK joints' acceleration error, which the paper's terms weigh weakly).
L_rec is the L1 distance between FK joints of the output and of the clean
motion; L_motion is the L1 distance
between pairwise motion encodings m_t^k(j) = x_{t+k}(j) (op) x_t(j) of the
pelvis-relative joints, op = cross product (subtraction for the ablation),
over the interval set {8, 12, 16, 24} frames at the paper's 50 fps (Human3.6M),
scaled to the clip's frame rate (at 30 fps: {5, 7, 10, 14}).

Inference: overlapping windows, outputs averaged (``OverlappingWindows``).
"""
from dataclasses import dataclass

import roma
import torch
import torch.nn.functional as F
from torch import nn

from ..params import Param
from ..rotations_torch import IDENTITY_6D, matrix_to_rot6d, rot6d_to_matrix
from ..skeleton import NUM_JOINTS, PARENTS
from ..windows import OverlappingWindows
from .common import LearnedMethod, Recipe, joints_from_quats, low_pass, time_accel, windows_per_pass

DESCRIPTION = "UGCN: U-shaped spatio-temporal graph network trained with a motion loss"

IN_FEATURES = 6 + 3  # per node: local rotation (6D) + window-relative FK position (m)


@dataclass
class UGCNConfig:
    window: int = 64  # frames per window (training and inference); a multiple of 2 ** levels
    channels: tuple = (16, 32, 48)  # per temporal resolution: 1, 1/2, 1/4 (sized for CPU speed)
    kernel: int = 5  # temporal kernel of every block
    dropout: float = 0.1
    u_shape: bool = True  # False: the paper's "0 downsample & upsample" ablation (all strides 1)
    base_sigma: float = 2.0  # frames: Gaussian low-pass of the input that the corrections apply to (0: raw input)
    correction_sigma: float = 1.0  # frames: Gaussian low-pass of the predicted corrections (0: none)

    @property
    def levels(self) -> int:
        return len(self.channels) - 1


def subset_adjacency() -> torch.Tensor:
    """(3, 24, 24) A[k, i, j]: weight of joint j in joint i's subset k, 1/|subset|.

    k = 0: i itself; k = 1: neighbours closer to the pelvis (the parent);
    k = 2: neighbours farther from it (the children). Empty subsets are zero rows.
    """
    a = torch.zeros(3, NUM_JOINTS, NUM_JOINTS)
    a[0] = torch.eye(NUM_JOINTS)
    for j in range(1, NUM_JOINTS):
        a[1, j, PARENTS[j]] = 1.0
        a[2, PARENTS[j], j] = 1.0
    return a / a.sum(-1, keepdim=True).clamp_min(1.0)


class SpatialGraphConv(nn.Module):
    """(N, C_in, T, V) -> (N, C_out, T, V): sum over subsets k of W_k (x A_k^T).

    The three subset aggregations are one matmul over joints (x @ [A_0^T A_1^T
    A_2^T]); the per-subset 1x1 weights are then one (1, 3, 1) Conv3d over
    (time, subset, joint), which avoids einsum's copies (about 1.7x faster on CPU).
    """

    def __init__(self, c_in, c_out):
        super().__init__()
        a = subset_adjacency()  # (k, i, j)
        self.register_buffer("adjacency", a.permute(2, 0, 1).reshape(NUM_JOINTS, 3 * NUM_JOINTS), persistent=False)
        self.conv = nn.Conv3d(c_in, c_out, (1, 3, 1))

    def forward(self, x):
        n, c, t, v = x.shape
        return self.conv((x @ self.adjacency).view(n, c, t, 3, v)).squeeze(3)


class STGCNBlock(nn.Module):
    """Spatial graph conv, BN, ReLU, temporal conv (stride on time), BN, dropout, + residual, ReLU."""

    def __init__(self, c_in, c_out, kernel, stride=1, dropout=0.0):
        super().__init__()
        self.gcn = SpatialGraphConv(c_in, c_out)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, (kernel, 1), (stride, 1), (kernel // 2, 0)),
            nn.BatchNorm2d(c_out), nn.Dropout(dropout),
        )
        same = c_in == c_out and stride == 1
        self.residual = nn.Identity() if same else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, (stride, 1)), nn.BatchNorm2d(c_out))

    def forward(self, x):
        return F.relu(self.tcn(self.gcn(x)) + self.residual(x))


def upsample(x, size):
    """Nearest x2 on time, (N, C, T, V) -> (N, C, size, V): x_up(t) = x(floor(t / 2))."""
    return F.interpolate(x, size=(size, x.shape[-1]), mode="nearest")


class UGCN(nn.Module):
    def __init__(self, config: UGCNConfig):
        super().__init__()
        self.config = config
        ch, k, p = config.channels, config.kernel, config.dropout
        stride = 2 if config.u_shape else 1
        self.data_bn = nn.BatchNorm1d(IN_FEATURES * NUM_JOINTS)
        self.stem = STGCNBlock(IN_FEATURES, ch[0], k)
        self.down = nn.ModuleList(
            nn.Sequential(STGCNBlock(ch[l], ch[l + 1], k, stride, p), STGCNBlock(ch[l + 1], ch[l + 1], k, 1, p))
            for l in range(config.levels)
        )
        self.up = nn.ModuleList(STGCNBlock(ch[l + 1], ch[l], k, 1, p) for l in range(config.levels))
        self.merge = nn.ModuleList(nn.Conv2d(ch[l], ch[0], 1) for l in range(config.levels))
        self.regressor = STGCNBlock(ch[0], ch[0], k, 1, p)
        self.rot_head = nn.Conv2d(ch[0], 6, 1)
        self.trans_head = nn.Conv1d(ch[0], 3, 1)
        for head in (self.rot_head, self.trans_head):  # start as the identity correction
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def features(self, quats, trans, rest_joints):
        """quats (B, L, 24, 4), trans (B, L, 3) -> node features (B, 9, L, 24), heading (B, 3, 3).

        Seen from the window's mean heading (a turn about +Y, SMPL's up axis)
        and its mean pelvis position: a walk reads the same in any direction.
        """
        rotmats = roma.unitquat_to_rotmat(quats)
        heading = window_heading(rotmats[:, :, 0])
        joints = joints_from_quats(quats, trans, rest_joints)
        joints = (joints - joints[:, :, :1].mean(1, keepdim=True)) @ heading[:, None]  # R^T p, row vectors
        rotmats = torch.cat([heading.transpose(-1, -2)[:, None, None] @ rotmats[:, :, :1], rotmats[:, :, 1:]], 2)
        six = matrix_to_rot6d(rotmats)
        x = torch.cat([six, joints], -1)  # (B, L, 24, 9)
        b, l = x.shape[:2]
        x = self.data_bn(x.permute(0, 2, 3, 1).reshape(b, -1, l)).view(b, NUM_JOINTS, IN_FEATURES, l)
        return x.permute(0, 2, 3, 1), heading

    def forward(self, quats, trans, rest_joints):
        """quats (B, L, 24, 4) unit xyzw, sign-continuous in time; trans (B, L, 3) m;
        rest_joints (24, 3) -> refined (quats (B, L, 24, 4) unit, signs following
        the input; trans (B, L, 3))."""
        length = quats.shape[1]
        x, heading = self.features(quats, trans, rest_joints)
        skips = [self.stem(x)]
        for block in self.down:
            skips.append(block(skips[-1]))
        h, merged = skips[-1], 0.0
        for l in reversed(range(self.config.levels)):
            h = upsample(self.up[l](h), skips[l].shape[2]) + skips[l]
            merged = merged + upsample(self.merge[l](h), length)
        h = self.regressor(merged)
        delta = low_pass(self.rot_head(h).permute(0, 2, 3, 1), self.config.correction_sigma)  # (B, L, 24, 6)
        delta = rot6d_to_matrix(delta + IDENTITY_6D.to(delta))
        base_q, base_t = low_pass(quats, self.config.base_sigma, unit=True), low_pass(trans, self.config.base_sigma)
        q = roma.rotmat_to_unitquat(roma.unitquat_to_rotmat(base_q) @ delta)
        # Keep the input's sign so overlapping windows average like for like.
        q = q * torch.where((q * quats).sum(-1, keepdim=True) < 0, -1.0, 1.0)
        delta_t = low_pass(self.trans_head(h[..., 0]).transpose(1, 2), self.config.correction_sigma)
        t = base_t + delta_t @ heading.transpose(-1, -2)
        return q, t


def window_heading(root_rotmats):
    """(B, L, 3, 3) global root rotations -> (B, 3, 3) turn about +Y to the window's
    mean facing direction (the body's +Z axis projected on the floor)."""
    forward = root_rotmats[..., :, 2].mean(1)  # (B, 3)
    yaw = torch.atan2(forward[:, 0], forward[:, 2])
    return roma.rotvec_to_rotmat(torch.stack([torch.zeros_like(yaw), yaw, torch.zeros_like(yaw)], -1))


def motion_encoding(joints, k: int, op: str):
    """Pairwise motion encoding of pelvis-relative joints (B, L, 24, 3) at interval k
    -> (B, L - k, 24, 3): x_{t+k} x x_t (cross) or x_{t+k} - x_t (subtract)."""
    x = joints - joints[:, :, :1]
    if op == "cross":
        return torch.cross(x[:, k:], x[:, :-k], dim=-1)
    if op == "subtract":
        return x[:, k:] - x[:, :-k]
    raise ValueError(f"unknown motion encoding operator {op!r}")


PAPER_INTERVALS = (8, 12, 16, 24)  # frames at the paper's 50 fps (Human3.6M)
PAPER_FPS = 50.0


def scaled_intervals(fps: float, intervals=PAPER_INTERVALS, interval_fps: float = PAPER_FPS) -> list:
    """The interval set in frames at ``fps`` (at least 1 frame each)."""
    return [max(1, round(k * fps / interval_fps)) for k in intervals]


def motion_loss(model: UGCN, batch: dict, rest_joints, motion_op: str = "cross", motion_weight: float = 1.0,
                accel_weight: float = 10.0, train_fps: float = 30.0) -> torch.Tensor:
    """L_rec + lambda L_motion (metres, m^2) on a batch of (noisy, clean) windows,
    plus ``accel_weight`` times the L1 of the FK joints' acceleration error (ours;
    0: the paper's loss). ``motion_op``: "cross", "subtract" or "none".

    L_rec: L1 of FK joints, root translation included (a root-relative L_rec
    plus a separate root term measured no better: docs/methods/ugcn.md).
    Both terms are means over frames and joints of a vector L1 norm; the
    motion term is averaged over the interval set.
    """
    q, t = model(batch["noisy_q"], batch["noisy_t"], rest_joints)
    pred = joints_from_quats(q, t, rest_joints)
    gt = joints_from_quats(batch["clean_q"], batch["clean_t"], rest_joints)
    loss = (pred - gt).abs().sum(-1).mean()
    if motion_op != "none" and motion_weight > 0:
        ks = scaled_intervals(train_fps)
        l_motion = sum((motion_encoding(pred, k, motion_op) - motion_encoding(gt, k, motion_op)).abs().sum(-1).mean()
                       for k in ks) / len(ks)
        loss = loss + motion_weight * l_motion
    if accel_weight > 0:
        loss = loss + accel_weight * (time_accel(pred) - time_accel(gt)).abs().sum(-1).mean()
    return loss


def _run(model: UGCN, driver: OverlappingWindows, quats, trans, rest_joints, offset, progress, settings):
    def window_fn(w):
        q, t = model(w[..., :-3].unflatten(-1, (NUM_JOINTS, 4)), w[..., -3:], rest_joints)
        return torch.cat([q.flatten(2), t], dim=-1)

    # Overlapping outputs are averaged as sign-continuous quaternions, then
    # renormalised (the Gramkow mean): the model keeps the input's signs.
    out = driver.run(window_fn, torch.cat([quats.flatten(1), trans], dim=-1), offset, progress, settings["batch"])
    return out[:, :-3].unflatten(-1, (NUM_JOINTS, 4)), out[:, -3:]


RECIPE = Recipe(loss=motion_loss, window=lambda c: c.window, train={"steps": 2400, "batch": 16, "lr": 2e-3, "threads": 1})

METHOD = LearnedMethod(
    name="ugcn", network=UGCN, config=UGCNConfig,
    driver=lambda config, settings: OverlappingWindows(config.window, settings["stride"]),
    run=_run,
    inference=(Param("stride", int, 48, 1, 64, "frames between overlapping windows (at most the 64-frame window)"),
               windows_per_pass(64)),
    recipe=RECIPE,
)
refine = METHOD.refine
