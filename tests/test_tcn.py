"""The tcn refiner with its shipped weights (refine_core/weights/tcn.pt)."""
import numpy as np
import pytest

from refine_core.metrics import evaluate
from refine_core.refiners import METHODS, refine
from refine_core.refiners.tcn import TCN, TCNConfig
from refine_core.train import noise
from refine_core.train.data import load_cmu

METHOD = "tcn"
needs_weights = pytest.mark.skipif(not METHODS[METHOD].available,
                                   reason=f"no trained weights: run python -m refine_core train {METHOD}")


@pytest.fixture(scope="module")
def clip_pair():
    """A real validation clip (600 frames) and its vibe_like corruption."""
    clean = load_cmu(split="val")[0]
    clean = clean.slice(0, min(600, clean.num_frames))
    noisy, _ = noise.corrupt(clean, "vibe_like", 3)
    return clean, noisy


@needs_weights
def test_refines_a_real_noisy_clip(clip_pair):
    clean, noisy = clip_pair
    out = refine(noisy, METHOD, device="cpu")
    assert out.num_frames == noisy.num_frames
    assert np.allclose(np.linalg.norm(out.rotations, axis=-1), 1.0, atol=1e-6)
    assert not np.allclose(out.rotations, noisy.rotations)  # every frame refined, none copied
    before, after = evaluate(noisy, clean), evaluate(out, clean)
    assert after["accel_error"] < 0.5 * before["accel_error"], (before, after)
    assert after["mpjpe"] < before["mpjpe"], (before, after)


@pytest.mark.parametrize("kernel,blocks,field", [(1, 2, 1), (3, 2, 27), (3, 3, 81), (3, 4, 243)])
def test_receptive_field_is_w_to_the_b_plus_one(kernel, blocks, field):
    """The paper's (W, B) settings: a window of R + 9 frames gives 10 frames, and
    output frame 0 sees input frames 0 .. R - 1 only."""
    import roma
    import torch

    config = TCNConfig(kernel=kernel, blocks=blocks, channels=8)
    assert config.receptive_field == field
    torch.manual_seed(0)
    model = TCN(config).eval()
    torch.nn.init.normal_(model.output_layer.weight, std=0.1)  # the shipped init is zero (identity)
    quats, trans = roma.random_unitquat((1, field + 9, 24)), torch.zeros(1, field + 9, 3)
    q0, _ = model(quats, trans)
    assert q0.shape == (1, 10, 24, 4)
    quats[:, field] = roma.random_unitquat((24,))  # just outside output frame 0's field
    q1, _ = model(quats, trans)
    assert torch.equal(q0[:, 0], q1[:, 0]) and not torch.allclose(q0[:, 1], q1[:, 1])
