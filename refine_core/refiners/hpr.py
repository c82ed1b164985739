"""HPR-Net (hpr_net.txt): learned affinity weights over a window of unit quaternions.

For each frame, a chunk of N frames centred on it (quaternions of the 24
joints, 96 x N, plus a relative-position channel and, our adaptation, the
root translation relative to the centre frame) goes through three 1D
temporal convolutions (kernel 3, zero padding) with LayerNorm + ReLU down to
24 channels, H (24 x N). The affinity of every frame to the centre is
w = softmax(H^T h_c); the refined pose is, per joint, the weighted sum of the
chunk's quaternions (signs aligned to the centre frame) renormalised (the
Gramkow mean), and the root translation is the same weighted average.
"""
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..skeleton import LIMB_CHAINS
from ..windows import CentredWindows
from .common import LearnedMethod, Recipe, joints_from_quats, time_accel, windows_per_pass

DESCRIPTION = "HPR-Net: learned affinity weights over a window of frames average unit quaternions"

NUM_JOINTS = 24


@dataclass
class HPRConfig:
    chunk: int = 17  # N: frames per window (odd)
    # Our addition: the chunk's frame offsets from its centre, ascending and
    # symmetric (N of them); () is the paper's contiguous chunk. A sparse chunk
    # reaches further for the same cost (docs/methods/hpr.md, ablations).
    offsets: tuple = ()
    hidden: int = 64
    affinity_channels: int = 24
    trans_channels: int = 8  # our addition: the root translation gets its own affinity
    layer_norm: bool = True
    per_chain: bool = False  # our addition: one affinity per body part (torso, each arm, each leg)
    # Our addition: each joint's noise level over the chunk (log of the median
    # third difference) as 24 more channels, so the affinity can tell how
    # much of the chunk's change is noise (docs/methods/hpr.md).
    level_features: bool = False


class ChannelLayerNorm(nn.Module):
    """LayerNorm over channels of (B, C, N) sequences (per frame)."""

    def __init__(self, channels):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x):
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


def joint_groups(per_chain: bool) -> torch.Tensor:
    """(24,) affinity group of each joint: all 0 (the paper's one affinity), or
    one group per limb chain with the pelvis joining the spine and head.

    Why per chain: spikes and occlusion bursts hit a few joints, mostly one
    limb; a shared affinity must choose between skipping those frames for the
    whole body or keeping them for the hit limb."""
    groups = torch.zeros(NUM_JOINTS, dtype=torch.long)
    if per_chain:
        for g, joints in enumerate(LIMB_CHAINS.values()):
            groups[list(joints)] = g
        groups[0] = list(LIMB_CHAINS).index("spine_head")
    return groups


LEVEL_FLOOR = 1e-4  # chord: about 0.01 degrees, under any mocap's own noise
LEVEL_CENTRE = -4.0  # log of a clean chunk's typical median third difference (chord)


def chunk_level(quats: torch.Tensor) -> torch.Tensor:
    """(B, 24) log noise level of each joint over a chunk (B, N, 24, 4) of
    sign-aligned quaternions: the median magnitude of the third time
    difference (as the guard's noise_level), centred near 0. The median, so a
    spike in the chunk does not read as noise everywhere."""
    level = torch.diff(quats, n=3, dim=1).norm(dim=-1).median(dim=1).values
    return torch.log(level + LEVEL_FLOOR) - LEVEL_CENTRE


class HPRNet(nn.Module):
    def __init__(self, config: HPRConfig):
        super().__init__()
        self.config = config
        groups = joint_groups(config.per_chain)
        self.register_buffer("groups", groups, persistent=False)
        self.num_groups = int(groups.max()) + 1
        in_channels = NUM_JOINTS * 4 + 1 + 3 + (NUM_JOINTS if config.level_features else 0)
        norm = (lambda c: ChannelLayerNorm(c)) if config.layer_norm else (lambda c: nn.Identity())
        self.weight_regression = nn.Sequential(
            nn.Conv1d(in_channels, config.hidden, 3, padding=1), norm(config.hidden), nn.ReLU(),
            nn.Conv1d(config.hidden, config.hidden, 3, padding=1), norm(config.hidden), nn.ReLU(),
            # Linear last layer: a ReLU here would make every affinity non-negative.
            nn.Conv1d(config.hidden, self.num_groups * config.affinity_channels + config.trans_channels, 3, padding=1),
        )
        offsets = torch.tensor(chunk_driver(config).frame_offsets, dtype=torch.float32)
        self.register_buffer("relative_position", offsets / offsets.abs().max(), persistent=False)

    def affinity(self, quats, trans):
        """quats (B, N, 24, 4) centre-aligned, trans (B, N, 3) -> pose weights
        (B, G, N) per joint group and translation weights (B, N), each summing
        to 1 over the chunk."""
        b, n = quats.shape[:2]
        c = n // 2
        rel_trans = trans - trans[:, c:c + 1]
        parts = [quats.reshape(b, n, -1), self.relative_position.expand(b, n)[..., None], rel_trans]
        if self.config.level_features:
            parts.append(chunk_level(quats)[:, None].expand(b, n, NUM_JOINTS))
        features = torch.cat(parts, dim=-1)
        h = self.weight_regression(features.transpose(1, 2))  # (B, G * 24 + 8, N)
        # Depth jitter of the root wants wider smoothing than the joints: one
        # softmax(H^T h_c) per joint group (the paper's, G = 1) and one for translation.
        pose, root = h.split([self.num_groups * self.config.affinity_channels, self.config.trans_channels], dim=1)
        pose = pose.view(b, self.num_groups, self.config.affinity_channels, n)
        return (torch.softmax(torch.einsum("bgcn,bgc->bgn", pose, pose[..., c]), dim=-1),
                torch.softmax(torch.einsum("bcn,bc->bn", root, root[:, :, c]), dim=-1))

    def forward(self, quats, trans):
        """Refine the centre frame of each chunk.

        quats (B, N, 24, 4) unit quaternions xyzw; trans (B, N, 3) metres.
        Returns (quats (B, 24, 4) unit, trans (B, 3), weights (B, G, N)).
        """
        c = quats.shape[1] // 2
        # q and -q are one rotation: align every quaternion with the centre's,
        # itself put on the w >= 0 hemisphere so the network sees one sign.
        centre = quats[:, c:c + 1] * torch.where(quats[:, c:c + 1, :, 3:] < 0, -1.0, 1.0)
        sign = torch.sign((quats * centre).sum(-1, keepdim=True))
        aligned = quats * torch.where(sign == 0, torch.ones_like(sign), sign)
        w, w_trans = self.affinity(aligned, trans)
        mean = torch.einsum("bjn,bnjk->bjk", w[:, self.groups], aligned)
        refined = mean / mean.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        return refined, torch.einsum("bn,bnk->bk", w_trans, trans), w


def chunk_driver(config: HPRConfig) -> CentredWindows:
    """The windows of a config's chunk (contiguous, or its sparse ``offsets``)."""
    driver = CentredWindows(config.chunk, tuple(config.offsets))
    offsets = driver.frame_offsets
    if len(offsets) != config.chunk or offsets != tuple(sorted(set(offsets))) or offsets != tuple(-o for o in offsets[::-1]):
        raise ValueError(f"HPR-Net offsets must be {config.chunk} ascending offsets symmetric about 0, got {offsets}")
    return driver


def chunk_frames(config: HPRConfig, first: int = 0) -> torch.Tensor:
    """Indices, in a window starting ``first`` frames into a training window, of
    the chunk centred on frame ``first + reach``."""
    driver = chunk_driver(config)
    return torch.tensor(driver.frame_offsets) + driver.context + first


def refine_windows(model: HPRNet, quats, trans, batch: int = 4096, progress: Callable | None = None, offset: int = 0):
    """Every frame of a (T, 24, 4) / (T, 3) motion refined by its centred chunk."""
    return _run(model, chunk_driver(model.config), quats, trans, None, offset, progress, {"batch": batch})


def _run(model: HPRNet, driver: CentredWindows, quats, trans, rest_joints, offset, progress, settings):
    def centre_frame(windows):
        q, t, _ = model(windows[..., :-3].unflatten(-1, (NUM_JOINTS, 4)), windows[..., -3:])
        return torch.cat([q.flatten(1), t], dim=-1)

    out = driver.run(centre_frame, torch.cat([quats.reshape(len(quats), -1), trans], dim=-1), offset, progress,
                     settings["batch"])
    return out[:, :-3].unflatten(-1, (NUM_JOINTS, 4)), out[:, -3:]


def _pose_and_root(quats, trans, rest_joints):
    """FK joints relative to the pelvis (what MPJPE measures) and the root translation."""
    joints = joints_from_quats(quats, trans, rest_joints)
    return joints - joints[..., :1, :], trans


def joint_l1_loss(model: HPRNet, batch: dict, rest_joints) -> torch.Tensor:
    """The paper's loss: L1 between the refined centre frame's joints and the
    clean ones (pelvis-relative, as evaluated), plus L1 on the root translation
    (ours: the paper does not refine it)."""
    c = chunk_driver(model.config).context
    idx = chunk_frames(model.config)
    q, t, _ = model(batch["noisy_q"][:, idx], batch["noisy_t"][:, idx])
    pred, pred_root = _pose_and_root(q, t, rest_joints)
    target, target_root = _pose_and_root(batch["clean_q"][:, c], batch["clean_t"][:, c], rest_joints)
    return (pred - target).abs().mean() + (pred_root - target_root).abs().mean()


def smooth_joint_loss(model: HPRNet, batch: dict, rest_joints, accel_weight: float = 1.0) -> torch.Tensor:
    """``joint_l1_loss`` on three consecutive centre frames plus L1 on their
    acceleration error (our addition, measured in docs/methods/hpr.md): each
    centre frame is refined independently, so without it neighbouring weights
    need not agree and the output jitters.

    batch windows are 2 reach + 3 frames long (N + 2 for a contiguous chunk):
    the chunks centred on frames reach, reach + 1 and reach + 2.
    """
    reach = chunk_driver(model.config).context
    q, t = batch["noisy_q"], batch["noisy_t"]
    b = q.shape[0]
    chunks = [chunk_frames(model.config, k) for k in range(3)]
    rq, rt, _ = model(torch.cat([q[:, idx] for idx in chunks]), torch.cat([t[:, idx] for idx in chunks]))
    pred, pred_root = _pose_and_root(rq.reshape(3, b, -1, 4).transpose(0, 1), rt.reshape(3, b, 3).transpose(0, 1), rest_joints)
    c = slice(reach, reach + 3)
    target, target_root = _pose_and_root(batch["clean_q"][:, c], batch["clean_t"][:, c], rest_joints)

    return ((pred - target).abs().mean() + (pred_root - target_root).abs().mean()
            + accel_weight * ((time_accel(pred) - time_accel(target)).abs().mean()
                              + (time_accel(pred_root) - time_accel(target_root)).abs().mean()))


# accel_weight 2 chosen on validation (docs/methods/hpr.md, "The acceleration
# term, retuned"): 1 left vibe_like and heavy rougher than the filters.
RECIPE = Recipe(loss=smooth_joint_loss, window=lambda c: 2 * chunk_driver(c).context + 3,
                loss_params={"accel_weight": 2.0},
                train={"steps": 12000, "batch": 96, "lr": 2e-3, "threads": 1})

METHOD = LearnedMethod("hpr", HPRNet, HPRConfig, driver=lambda config, settings: chunk_driver(config),
                       run=_run, recipe=RECIPE, inference=(windows_per_pass(4096),))
refine = METHOD.refine
