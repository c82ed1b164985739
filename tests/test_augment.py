"""Augmentations beyond mirror/yaw/speed (those are in test_data.py: mirroring
twice is the identity, FK of the mirrored motion is the mirrored FK): rest
offsets, random frame rate, and training pairs drawn from the noise zoo."""
import numpy as np
import pytest

from refine_core.rotations import quat_to_matrix
from refine_core.synthetic import walking_motion
from refine_core.train import augment
from refine_core.train.pairs import NoisyPairs, PairConfig


def test_rest_offsets_are_one_constant_rotation_per_joint():
    m = walking_motion(60)
    out = augment.rest_offsets(m, 0)
    rel = np.swapaxes(quat_to_matrix(m.rotations), -1, -2) @ quat_to_matrix(out.rotations)  # q^-1 q'
    np.testing.assert_allclose(rel, np.broadcast_to(rel[:1], rel.shape), atol=1e-9)  # the same in every frame
    np.testing.assert_allclose(rel[0, 0], np.eye(3), atol=1e-12)  # the root keeps its heading
    angles = np.degrees(np.arccos(np.clip((np.trace(rel[0], axis1=-2, axis2=-1) - 1) / 2, -1, 1)))
    assert angles[[20, 21, 22, 23]].mean() > angles[1:20].mean()  # the hands get the larger offsets
    np.testing.assert_array_equal(out.trans, m.trans)
    np.testing.assert_array_equal(augment.rest_offsets(m, 0).rotations, out.rotations)  # seeded


def test_random_rate_keeps_duration():
    m = walking_motion(91, fps=30.0)
    seen = set()
    for seed in range(12):
        out = augment.random_rate(m, seed)
        seen.add(out.fps)
        assert out.fps in augment.RATES
        assert abs((out.num_frames - 1) / out.fps - (m.num_frames - 1) / m.fps) <= 1.0 / out.fps
    assert len(seen) >= 3


def test_random_augment_with_offsets_and_rates():
    m = walking_motion(90)
    a = augment.random_augment(m, 3, rest_offset=1.0, rates=(24.0, 60.0))
    b = augment.random_augment(m, 3, rest_offset=1.0, rates=(24.0, 60.0))
    assert a.fps in (24.0, 60.0)
    np.testing.assert_array_equal(a.rotations, b.rotations)


@pytest.mark.parametrize("exclude", [(), ("flip", "swap")])
def test_zoo_pairs_sample_windows(exclude):
    clips = [walking_motion(400, seed=s) for s in range(3)]
    config = PairConfig(zoo=True, exclude_families=exclude, rest_offset=1.0, rates=(30.0, 60.0))
    pairs = NoisyPairs(clips, config, seed=0)
    batch = pairs.sample(8, 32)
    assert batch["noisy_q"].shape == (8, 32, 24, 4) and batch["clean_t"].shape == (8, 32, 3)
    assert float((batch["noisy_q"] - batch["clean_q"]).abs().max()) > 0.0
    again = NoisyPairs(clips, config, seed=0).sample(8, 32)
    assert all(bool((again[k] == batch[k]).all()) for k in batch)
