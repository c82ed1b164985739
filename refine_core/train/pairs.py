"""Clean/noisy training pairs for every learned refiner.

Clean clips are augmented (mirror, yaw, speed) and corrupted by the
estimator-noise model afresh at each ``refresh()``, so a model never sees the
same corruption twice; windows are then drawn from the concatenated clips.
Noise presets are mixed so the models learn to generalise across error
levels rather than fit one recipe. With ``zoo`` every clip is cut into
segments of a few seconds (about a training window or a few) and each
segment is corrupted by its own noise.sample_config draw: families and
levels at random, less ``exclude_families`` (leave-one-family-out). The
noisy root is what the networks get at inference (common.robust_root).
"""
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..refiners.common import body_height, robust_root
from ..rotations import axis_angle_to_quat, continuous_signs, matrix_to_quat, quat_to_matrix
from . import augment, noise


@dataclass
class PairConfig:
    presets: tuple = ("mild", "vibe_like", "heavy")
    preset_weights: tuple = (0.3, 0.4, 0.3)
    spread: float = 1.5  # each clip's noise magnitudes drawn around its preset (noise.random_config)
    augment: bool = True
    extra_white_noise_deg: float = 0.0  # Gaussian noise added to inputs (the two-stage paper's augmentation)
    zoo: bool = True  # noise.sample_config per segment instead of the presets
    exclude_families: tuple = ()  # zoo families never drawn
    zoo_segment_seconds: tuple = (2.0, 8.0)  # segment length, uniform range
    rest_offset: float = 1.0  # augment.rest_offsets scale (0: off)
    # augment.random_rate choices (empty: off): the rates refine's interleaved streams have (common.phase_count)
    rates: tuple = (24.0, 25.0, 30.0, 30.0, 36.0)

    def as_dict(self):
        return asdict(self)


class NoisyPairs:
    """Windows of (noisy, clean) motion drawn from re-corrupted clips.

    Tensors: quats (B, L, 24, 4) sign-continuous per clip, trans (B, L, 3).
    """

    def __init__(self, clips, config: PairConfig, seed: int = 0):
        self.clips = [c for c in clips if c.num_frames >= 8]
        self.config = config
        self.rng = np.random.default_rng(seed)
        self.refresh()

    def refresh(self):
        cfg = self.config
        parts = {k: [] for k in ("clean_q", "clean_t", "noisy_q", "noisy_t", "mask")}
        starts, lengths = [], []
        offset = 0
        for clip in self.clips:
            if cfg.augment:
                clip = augment.random_augment(clip, self.rng, rest_offset=cfg.rest_offset, rates=cfg.rates or None)
            if cfg.zoo:
                nq, nt, mask = self._zoo(clip)
            else:
                preset = self.rng.choice(cfg.presets, p=np.asarray(cfg.preset_weights) / sum(cfg.preset_weights))
                config = noise.random_config(self.rng, base=preset, spread=cfg.spread) if cfg.spread > 1 else preset
                noisy, mask = noise.corrupt(clip, config, self.rng)
                nq, nt = noisy.rotations, noisy.trans
            if cfg.extra_white_noise_deg > 0:
                jitter = axis_angle_to_quat(self.rng.normal(0, np.radians(cfg.extra_white_noise_deg), nq.shape[:-1] + (3,)))
                nq = matrix_to_quat(quat_to_matrix(nq) @ quat_to_matrix(jitter))
            parts["clean_q"].append(continuous_signs(clip.rotations))
            parts["clean_t"].append(clip.trans)
            parts["noisy_q"].append(continuous_signs(nq))
            parts["noisy_t"].append(robust_root(nt, body_height(clip.skeleton.rest_joints)))  # as refine feeds it
            parts["mask"].append(mask)
            starts.append(offset)
            lengths.append(clip.num_frames)
            offset += clip.num_frames
        self.data = {k: torch.as_tensor(np.concatenate(v), dtype=torch.float32 if k != "mask" else torch.bool)
                     for k, v in parts.items()}
        self.starts = np.asarray(starts)
        self.lengths = np.asarray(lengths)
        self.rest_joints = torch.as_tensor(self.clips[0].skeleton.rest_joints, dtype=torch.float32)

    def _zoo(self, clip):
        """(noisy quats, noisy trans, mask) of ``clip`` corrupted segment by
        segment, each by its own noise.sample_config draw."""
        cfg = self.config
        lo, hi = (max(8, round(x * clip.fps)) for x in cfg.zoo_segment_seconds)
        q, t, m = [], [], []
        start = 0
        while start < clip.num_frames:
            stop = min(start + int(self.rng.integers(lo, hi + 1)), clip.num_frames)
            config = noise.sample_config(self.rng, exclude=cfg.exclude_families)
            noisy, mask = noise.corrupt(clip.slice(start, stop), config, self.rng)
            q.append(noisy.rotations)
            t.append(noisy.trans)
            m.append(mask)
            start = stop
        return np.concatenate(q), np.concatenate(t), np.concatenate(m)

    def sample(self, batch: int, length: int, edge_fraction: float = 0.1) -> dict:
        """``batch`` windows of ``length`` frames. Clips are drawn in proportion
        to their length; ``edge_fraction`` of windows hang over a clip end and
        are edge-replicated, as at inference."""
        p = self.lengths / self.lengths.sum()
        clip = self.rng.choice(len(self.lengths), size=batch, p=p)
        n = self.lengths[clip]
        lo = np.where(self.rng.random(batch) < edge_fraction, -(length // 2), 0)
        hi = np.maximum(n - length, 0) + np.where(lo < 0, length // 2, 0)
        first = self.rng.integers(lo, hi + 1)
        idx = np.clip(first[:, None] + np.arange(length), 0, n[:, None] - 1) + self.starts[clip][:, None]
        idx = torch.as_tensor(idx)
        return {k: v[idx] for k, v in self.data.items()}
