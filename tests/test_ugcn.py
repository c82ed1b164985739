"""UGCN + motion loss: the shipped weights on a real validation clip, shapes, determinism, training smoke run."""
import numpy as np
import pytest
import torch

from refine_core.metrics import evaluate
from refine_core.refiners import METHODS, common, refine, ugcn
from refine_core.synthetic import walking_motion
from refine_core.train import data, noise
from refine_core.train.augment import rotate_yaw

torch.set_num_threads(1)
# Measured with the shipped weights (retrained for issue 17) on this clip, seed 3: accel error
# 0.20 of the noisy input's, MPJPE 0.99 of it (the previous weights: 0.77, a gain that came from
# the old training data, docs/methods/ugcn.md). The accel bound leaves room for another torch build.
ACCEL_RATIO = 0.3
MPJPE_RATIO = 1.0
ROOT = data.data_root()
needs_data = pytest.mark.skipif(not ROOT.is_dir(), reason=f"CMU BVH data not found at {ROOT} (set {data.DATA_ENV})")
needs_weights = pytest.mark.skipif(not METHODS["ugcn"].available,
                                   reason="refine_core/weights/ugcn.pt missing: train it with `python -m refine_core train ugcn`")


@pytest.fixture(scope="module")
def val_clip():
    """The longest retargeted validation clip (subject 001/007, never trained on) and a vibe_like corruption."""
    clip = max(data.load_cmu(fps=30, split="val"), key=lambda c: c.num_frames)
    noisy, _ = noise.corrupt(clip, "vibe_like", np.random.default_rng(3))
    return clip, noisy


def test_subset_adjacency_partitions_the_tree():
    a = ugcn.subset_adjacency()
    assert torch.allclose(a[0], torch.eye(24))
    assert a[1, 0].sum() == 0 and torch.allclose(a[1, 1:].sum(-1), torch.ones(23))  # one parent, none for the pelvis
    assert torch.allclose(a[2, 9, [12, 13, 14]], torch.full((3,), 1 / 3)) and a[2, 9].sum() == 1  # spine3's 3 children
    assert a[2, 15].sum() == 0  # the head is a leaf


def test_motion_encoding_operators():
    x = torch.randn(2, 20, 24, 3)
    cross = ugcn.motion_encoding(x, 4, "cross")
    rel = x - x[:, :, :1]
    assert cross.shape == (2, 16, 24, 3)
    assert torch.allclose(cross, torch.linalg.cross(rel[:, 4:], rel[:, :-4]))
    assert torch.allclose(ugcn.motion_encoding(x, 4, "subtract"), rel[:, 4:] - rel[:, :-4])
    assert ugcn.scaled_intervals(30.0) == [5, 7, 10, 14]
    assert ugcn.scaled_intervals(50.0) == [8, 12, 16, 24]


def _run(model, motion):
    q = torch.as_tensor(motion.rotations, dtype=torch.float32)[None]
    t = torch.as_tensor(motion.trans, dtype=torch.float32)[None]
    with torch.no_grad():
        q_out, t_out = model(q, t, motion.skeleton.rest_joints)
    return q_out[0], t_out[0]


def test_untrained_model_returns_its_base():
    """The correction heads start at zero: the output is the base (the raw input when base_sigma is 0)."""
    motion = walking_motion(40, fps=30.0, seed=1)
    q, t = (torch.as_tensor(a, dtype=torch.float32) for a in (motion.rotations, motion.trans))
    q_out, t_out = _run(ugcn.UGCN(ugcn.UGCNConfig(base_sigma=0.0)).eval(), motion)
    assert torch.allclose(q_out, q, atol=1e-5) and torch.allclose(t_out, t, atol=1e-6)
    q_out, t_out = _run(ugcn.UGCN(ugcn.UGCNConfig()).eval(), motion)
    assert torch.allclose(q_out, common.low_pass(q[None], 2.0, unit=True)[0], atol=1e-5)


def test_turning_the_input_turns_the_output():
    """Features are seen from the window's heading: a motion turned about +Y is refined the same, turned."""
    torch.manual_seed(0)
    model = ugcn.UGCN(ugcn.UGCNConfig()).eval()
    for head in (model.rot_head, model.trans_head):
        torch.nn.init.normal_(head.weight, std=0.01)
    motion = walking_motion(64, fps=30.0, seed=1)
    q, t = _run(model, motion)
    q_turned, t_turned = _run(model, rotate_yaw(motion, 1.0))
    expected = rotate_yaw(motion.replace(rotations=q.double().numpy(), trans=t.double().numpy()), 1.0)
    np.testing.assert_allclose(np.abs((expected.rotations * q_turned.double().numpy()).sum(-1)), 1.0, atol=1e-5)
    np.testing.assert_allclose(expected.trans, t_turned.double().numpy(), atol=1e-5)


@needs_data
@needs_weights
def test_refines_real_validation_clip(val_clip):
    clean, noisy = val_clip
    out = refine(noisy, "ugcn", device="cpu")
    assert out.num_frames == clean.num_frames
    np.testing.assert_allclose(np.linalg.norm(out.rotations, axis=-1), 1.0, atol=1e-6)
    before, after = evaluate(noisy, clean), evaluate(out, clean)
    # Every frame is refined: no frame comes back as its noisy input.
    assert np.all(np.abs(out.rotations - noisy.rotations).max(axis=(1, 2)) > 0)
    assert after["accel_error"] < ACCEL_RATIO * before["accel_error"], (before, after)
    assert after["mpjpe"] < MPJPE_RATIO * before["mpjpe"], (before, after)
