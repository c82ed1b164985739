"""D3PRefiner (refine_core.refiners.diffusion): shipped weights on a real
validation clip, shapes, determinism, schedule, and a training smoke run."""
import numpy as np
import pytest
import torch

from refine_core.metrics import evaluate
from refine_core.refiners import METHODS, diffusion, refine
from refine_core.refiners.common import load_model
from refine_core.refiners.schedule import CosineSchedule, ScheduleConfig, ddim_sample
from refine_core.synthetic import walking_motion
from refine_core.train.data import data_root, load_cmu
from refine_core.train.noise import corrupt

WEIGHTS = METHODS["diffusion"].weights_path
needs_weights = pytest.mark.skipif(not WEIGHTS.is_file(), reason=f"no trained weights at {WEIGHTS} "
                                   "(python -m refine_core train diffusion)")


@pytest.fixture(scope="module")
def val_pair():
    if not data_root().is_dir():
        pytest.skip(f"CMU data folder not found at {data_root()}")
    torch.set_num_threads(1)
    clean = max(load_cmu(split="val"), key=lambda c: c.num_frames)
    clean = clean.slice(0, min(clean.num_frames, 450))
    noisy, _ = corrupt(clean, "vibe_like", 7)
    return clean, noisy


def test_schedule_starts_at_the_noisy_input():
    s = CosineSchedule(ScheduleConfig(steps=50))
    assert s.abar[0] == 1 and s.abar[-1] == 0 and torch.all(s.abar[1:] < s.abar[:-1])
    assert s.sampling_timesteps(2) == [50, 25, 0]
    x0, err = torch.randn(3, 8, 5), torch.randn(3, 8, 5)
    t = torch.full((3,), 50)
    assert torch.allclose(s.q_sample(x0, err, t), x0 + err)  # x_T = y
    # With the true error the sampler recovers x0 exactly, in any number of steps.
    for k in (1, 2, 5):
        out = ddim_sample(lambda x, tt: err_at(s, x, x0, tt), x0 + err, s, k)
        assert torch.allclose(out, x0, atol=1e-5)


def err_at(schedule, x_t, x0, t):
    """The error implied by x_t for a known x0 (inverts q_sample)."""
    a, b = (c.view(-1, 1, 1) for c in schedule.coefficients(t))
    return (x_t - (a + b) * x0) / b


def test_conditional_gaussian_recovers_a_linear_error():
    torch.manual_seed(0)
    g = diffusion.ConditionalGaussian(cond_dim=4, err_dim=3)
    cond = torch.randn(20000, 4)
    gain = torch.randn(3, 4)
    err = cond @ gain.T + 0.1 * torch.randn(20000, 3) + 0.5
    g.fit(cond, err)
    assert torch.allclose(g.gain, gain, atol=0.02)
    assert torch.allclose(g.mu_e - g.gain @ g.mu_c, torch.full((3,), 0.5), atol=0.02)
    residual = g.sample(cond) - cond @ gain.T - 0.5
    assert abs(residual.std().item() - 0.1) < 0.01


def test_conditional_gaussian_measures_the_static_share_of_the_error():
    """An error constant over each clip is all static; a white one has none (1 / window by chance)."""
    torch.manual_seed(0)
    cond = torch.randn(64 * 200, 2)
    static = torch.randn(200, 1, 3).expand(200, 64, 3).reshape(-1, 3)
    white = torch.randn(64 * 200, 3)
    g = diffusion.ConditionalGaussian(cond_dim=2, err_dim=3)
    g.fit(cond, static + 0.1 * white, lengths=[64] * 200, window=64)
    assert (g.static_fraction > 0.95).all()
    g.fit(cond, white, lengths=[64] * 200, window=64)
    assert (g.static_fraction < 0.05).all()
    g.fit(cond, white)  # no clip lengths: the paper's per-frame draws
    assert (g.static_fraction == 0).all()


def test_temporal_draws_keep_the_fitted_variance():
    torch.manual_seed(1)
    g = diffusion.ConditionalGaussian(cond_dim=2, err_dim=3)
    cond = torch.randn(64 * 200, 2)
    g.fit(cond, 0.5 * torch.randn(64 * 200, 3), lengths=[64] * 200, window=64)
    draws = g.sample(torch.randn(400, 64, 2), jitter_sigma=2.0)
    assert abs(draws.std().item() - 0.5) < 0.03
    lag1 = (draws[:, 1:] * draws[:, :-1]).mean() / draws.pow(2).mean()
    assert lag1 > 0.8  # low-passed in time, not white (white: about 0)


@needs_weights
def test_refines_a_real_clip(val_pair):
    clean, noisy = val_pair
    out = refine(noisy, "diffusion", device="cpu")
    assert out.rotations.shape == noisy.rotations.shape and out.trans.shape == noisy.trans.shape
    assert np.allclose(np.linalg.norm(out.rotations, axis=-1), 1.0, atol=1e-6)
    # Every frame refined: no frame (edges included) equals its input.
    changed = np.abs(out.rotations - noisy.rotations).max(axis=(1, 2)) > 1e-4
    assert changed.all()
    before, after = evaluate(noisy, clean), evaluate(out, clean)
    assert after["accel_error"] < 0.4 * before["accel_error"]
    assert after["mpjpe"] < before["mpjpe"]


@needs_weights
def test_refine_follows_the_motion_wherever_it_is(val_pair):
    """Each window is centred on its own mean position: moving the whole motion moves the result."""
    _, noisy = val_pair
    offset = np.array([3.0, -2.0, 0.5])
    out = refine(noisy, "diffusion", device="cpu")
    moved = refine(noisy.replace(trans=noisy.trans + offset), "diffusion", device="cpu")
    assert np.allclose(moved.trans, out.trans + offset, atol=2e-4)
    assert np.allclose(moved.rotations, out.rotations, atol=2e-4)


def test_training_smoke(tmp_path):
    from refine_core.train.loop import train_method

    torch.set_num_threads(1)
    clips = [walking_motion(300, seed=s) for s in range(3)]
    out = tmp_path / "m.pt"
    info = train_method("diffusion", out=out, clips=clips, steps=3, log=lambda *_: None)
    assert np.isfinite(info["final_loss"])
    model, config, recipe = load_model(out, diffusion.PoseDenoiser, diffusion.DiffusionConfig)
    assert recipe["method"] == "diffusion"
    assert model.error_model.scale_tril.abs().sum() > 0  # the fitted Gaussian travels in the checkpoint
    motion = clips[0].slice(0, 40)
    refined = diffusion.refine(motion, weights=out)
    assert refined.rotations.shape == motion.rotations.shape
