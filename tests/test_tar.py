"""The tar refiner with its shipped weights (refine_core/weights/tar.pt)."""
import numpy as np
import pytest

from refine_core.metrics import evaluate
from refine_core.refiners import METHODS, refine
from refine_core.refiners.tar import TAR, TARConfig, pose_features
from refine_core.train import noise
from refine_core.train.data import load_cmu

METHOD = "tar"
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


def test_recurrent_refinement_is_disentangled():
    """L + 1 estimates (Phi_init and one per iteration); the GRU of one joint
    moves that joint's parameters only."""
    import roma
    import torch

    torch.manual_seed(0)
    config = TARConfig()
    model = TAR(config).eval()
    with torch.no_grad():
        model.step_weight[5].normal_()  # only joint 5's regressor is non-zero
        poses = pose_features(roma.random_unitquat((2, config.window, 24)), torch.randn(2, config.window, 3))
        estimates = model(poses)
    assert len(estimates) == config.iterations + 1
    moved = (estimates[-1] - estimates[0]).abs().view(2, -1)[:, :24 * 6].view(2, 24, 6).amax(dim=(0, 2))
    assert moved[5] > 0 and torch.all(moved[torch.arange(24) != 5] == 0)
