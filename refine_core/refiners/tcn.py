"""Two-stage temporal refinement, stage 2 (temporal_joint_depths.txt): a dilated temporal ConvNet.

Stage 1 is whatever estimator wrote the file; this module is the paper's
second stage. Per frame, the pose (24 joint rotations in 6D, plus the root's
per-frame displacement) is one input vector. An input temporal convolution
(kernel W, C channels) is followed by B residual blocks, block b a dilated
convolution (kernel W, dilation W^b) and a 1x1 convolution; every convolution
but the last is followed by BatchNorm, ReLU and dropout; an output 1x1
convolution gives each frame's correction. Convolutions are unpadded
("valid", as in Pavllo et al., the paper's [2]), so the receptive field is
W^(B+1) frames (243 at W = 3, B = 4) and a window of L + 242 frames yields
L refined frames. Training adds Gaussian noise to the inputs
(``PairConfig.extra_white_noise_deg``, on top of the estimator-noise model):
the paper's key finding.

Adapted to our input: the paper regresses joint coordinates; we regress a
correction of each joint's 6D rotation (then Gram-Schmidt) and of the root
translation, added to a fixed Gaussian low-pass of the input (sigma 2
frames; the network also sees the raw input and can restore what the filter
cuts). The output layer starts at zero, so the untrained network is that
low-pass. The loss is the paper's MPJPE on FK joints, plus an
optional acceleration term (``accel_weight``, our addition; see docs/methods/tcn.md).
"""
from dataclasses import dataclass

import roma
import torch
from torch import nn

from ..params import Param
from ..rotations_torch import IDENTITY_6D, quat_to_rot6d, rot6d_to_matrix
from ..windows import ValidConvolution
from .common import LearnedMethod, Recipe, gaussian_weights, joints_from_quats, low_pass_radius, rowwise_6d_index, time_accel

DESCRIPTION = "Dilated temporal ConvNet (two-stage refinement, stage two) trained with noise augmentation"

NUM_JOINTS = 24
POSE_CHANNELS = NUM_JOINTS * 6 + 3  # 6D rotations + root displacement (the output)
INPUT_CHANNELS = 2 * NUM_JOINTS * 6 + 3  # ... + 6D frame-to-frame change


@dataclass
class TCNConfig:
    kernel: int = 3  # W
    blocks: int = 4  # B; receptive field W^(B+1)
    channels: int = 128  # C (the paper's 1024 sized down for a CPU)
    dropout: float = 0.1  # p (the paper: 0.25 at C = 1024)
    trans_scale: float = 10.0  # metres -> network units for root displacement
    residual: bool = True  # rotations as a correction of the noisy frame (else regressed, as in the paper)
    change_scale: float = 20.0  # weight of the 6D frame-to-frame change among the inputs
    base_sigma: float = 2.0  # frames: corrections apply to a Gaussian low-pass of the input (0: the raw input)

    @property
    def receptive_field(self) -> int:
        return self.kernel ** (self.blocks + 1)


def conv_bn(cin, cout, kernel, dilation, dropout):
    """Conv1d (no padding) -> BatchNorm -> ReLU -> Dropout on (B, C, L)."""
    return nn.Sequential(nn.Conv1d(cin, cout, kernel, dilation=dilation, bias=False),
                         nn.BatchNorm1d(cout), nn.ReLU(), nn.Dropout(dropout))


class ResidualBlock(nn.Module):
    """Dilated conv (kernel W, dilation d) + 1x1 conv; the skip path is cropped
    to the shorter valid output (centre frames)."""

    def __init__(self, channels, kernel, dilation, dropout):
        super().__init__()
        self.crop = dilation * (kernel - 1) // 2
        self.body = nn.Sequential(conv_bn(channels, channels, kernel, dilation, dropout),
                                  conv_bn(channels, channels, 1, 1, dropout))

    def forward(self, x):
        return x[:, :, self.crop:x.shape[2] - self.crop] + self.body(x)


class TCN(nn.Module):
    def __init__(self, config: TCNConfig):
        super().__init__()
        self.config = config
        w, c = config.kernel, config.channels
        self.input_layer = conv_bn(INPUT_CHANNELS, c, w, 1, config.dropout)
        self.blocks = nn.Sequential(*[ResidualBlock(c, w, w ** b, config.dropout) for b in range(1, config.blocks + 1)])
        self.output_layer = nn.Conv1d(c, POSE_CHANNELS, 1)
        # Zero output weights: training starts from the noisy input (residual)
        # or from the rest pose (regression: bias = identity rotations in 6D).
        nn.init.zeros_(self.output_layer.weight)
        nn.init.zeros_(self.output_layer.bias)
        if not config.residual:
            with torch.no_grad():
                self.output_layer.bias[:NUM_JOINTS * 6] = IDENTITY_6D.repeat(NUM_JOINTS)

    def features(self, quats, trans):
        """quats (B, L, 24, 4) xyzw, trans (B, L, 3) -> (rot6d (B, L, 24, 6), x (B, C_in, L))."""
        c = self.config
        rot6d = quat_to_rot6d(quats)
        flat = rot6d.flatten(2)
        # Frame-to-frame change, scaled up: jitter is ~1% of the pose signal,
        # and this makes it as visible to the first layer as the pose itself.
        change = torch.diff(flat, dim=1, prepend=flat[:, :1]) * c.change_scale
        # Displacement, not position: the network is translation invariant.
        step = torch.diff(trans, dim=1, prepend=trans[:, :1]) * c.trans_scale
        x = torch.cat([flat, change, step], dim=-1)
        return rot6d, x.transpose(1, 2)

    def forward(self, quats, trans):
        """Refine the centre frames of each window.

        quats (B, L, 24, 4) unit xyzw, sign-continuous; trans (B, L, 3) metres.
        Returns quats (B, L - R + 1, 24, 4) and trans (B, L - R + 1, 3) for frames
        R//2 .. L - R//2 - 1, R the receptive field.
        """
        pad = self.config.receptive_field // 2
        rot6d, x = self.features(quats, trans)
        out = self.output_layer(self.blocks(self.input_layer(x))).transpose(1, 2)  # (B, L', C_in)
        n = out.shape[1]
        refined6d = out[..., :NUM_JOINTS * 6].reshape(-1, n, NUM_JOINTS, 6)
        base6d, base_t = self.base(rot6d, trans, pad, n)
        if self.config.residual:
            refined6d = refined6d + base6d
        q = roma.rotmat_to_unitquat(rot6d_to_matrix(refined6d))
        t = base_t + out[..., NUM_JOINTS * 6:] / self.config.trans_scale
        return q, t

    def base(self, rot6d, trans, pad: int, n: int):
        """What the corrections apply to, for frames pad .. pad + n - 1: the input,
        or its Gaussian low-pass (``base_sigma`` frames; 6D averaged, so no
        quaternion signs matter). Returns (6D (B, n, 24, 6), trans (B, n, 3))."""
        sigma = self.config.base_sigma
        if sigma <= 0:
            return rot6d[:, pad:pad + n], trans[:, pad:pad + n]
        radius = min(pad, low_pass_radius(sigma))
        w = gaussian_weights(sigma, radius, rot6d.device)
        x = torch.cat([rot6d.flatten(2), trans], dim=-1)[:, pad - radius:pad + n + radius]
        smooth = x.unfold(1, 2 * radius + 1, 1) @ w  # (B, n, C)
        return smooth[..., :-3].reshape(-1, n, NUM_JOINTS, 6), smooth[..., -3:]


def _run(model: TCN, driver: ValidConvolution, quats, trans, rest_joints, offset, progress, settings):
    def valid_frames(x):
        q, t = model(x[..., :-3].unflatten(-1, (NUM_JOINTS, 4)), x[..., -3:])
        return torch.cat([q.flatten(2), t], dim=-1)

    out = driver.run(valid_frames, torch.cat([quats.reshape(len(quats), -1), trans], dim=-1), offset, progress,
                     settings["chunk"])
    return out[:, :-3].unflatten(-1, (NUM_JOINTS, 4)), out[:, -3:]


def mpjpe_loss(model: TCN, batch: dict, rest_joints, accel_weight: float = 2.0) -> torch.Tensor:
    """The paper's objective, MPJPE (metres) of root-relative joints, on the
    refined centre frames; plus the root trajectory's error (we also refine
    the root), and ``accel_weight`` times the error of both's second
    difference (the accel error the benchmark reports; 0: the paper's MPJPE only)."""
    pad = model.config.receptive_field // 2
    q, t = model(batch["noisy_q"], batch["noisy_t"])
    n = q.shape[1]
    pred = joints_from_quats(q, t, rest_joints)
    target = joints_from_quats(batch["clean_q"][:, pad:pad + n], batch["clean_t"][:, pad:pad + n], rest_joints)
    # Root-relative pose and the root itself, apart: the root's slow depth
    # drift would otherwise dominate every joint's error.
    pose, pose_gt = pred - pred[..., :1, :], target - target[..., :1, :]
    root, root_gt = pred[..., 0, :], target[..., 0, :]
    loss = (pose - pose_gt).norm(dim=-1).mean() + (root - root_gt).norm(dim=-1).mean()
    if accel_weight > 0:
        def accel_error(x, y):
            return (time_accel(x) - time_accel(y)).norm(dim=-1).mean()

        loss = loss + accel_weight * (accel_error(pose, pose_gt) + accel_error(root, root_gt))
    return loss


OUT_FRAMES = 48  # refined frames per training window

RECIPE = Recipe(loss=mpjpe_loss, window=lambda c: OUT_FRAMES + c.receptive_field - 1,
                train={"steps": 1200, "batch": 16, "lr": 1e-3, "threads": 1, "refresh_every": 100},
                pairs={"extra_white_noise_deg": 1.0})


def migrate_rowwise_6d(state: dict, fmt: int) -> dict:
    """Format-1 weights read 6D row-wise: permute the input layer's rotation
    channels (pose and change) and the output layer's rotation rows."""
    rot = rowwise_6d_index(NUM_JOINTS)
    pose = torch.cat([rot, torch.arange(NUM_JOINTS * 6, POSE_CHANNELS)])
    inputs = torch.cat([rot, NUM_JOINTS * 6 + rot, torch.arange(2 * NUM_JOINTS * 6, INPUT_CHANNELS)])
    state = dict(state)
    state["input_layer.0.weight"] = state["input_layer.0.weight"][:, inputs]
    state["output_layer.weight"] = state["output_layer.weight"][pose]
    state["output_layer.bias"] = state["output_layer.bias"][pose]
    return state


METHOD = LearnedMethod(
    name="tcn", network=TCN, config=TCNConfig,
    driver=lambda config, settings: ValidConvolution(config.receptive_field // 2),
    run=_run,
    inference=(Param("chunk", int, 8192, 1, 1_000_000, "output frames per forward pass"),),
    recipe=RECIPE,
    migrate=migrate_rowwise_6d,
)
refine = METHOD.refine
