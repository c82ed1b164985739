"""Every learned refiner with its shipped weights: the properties all of them owe.

Method-specific behaviour (the paper's pieces) is tested in test_<method>.py.
"""
import numpy as np
import pytest

from refine_core.metrics import evaluate
from refine_core.refiners import METHODS, refine
from refine_core.refiners.common import load_model
from refine_core.synthetic import walking_motion
from refine_core.train import noise
from refine_core.train.data import data_root, load_cmu
from refine_core.train.loop import train_method

LEARNED = [name for name, m in METHODS.items() if m.kind == "learned"]


def needs_weights(name):
    if not METHODS[name].available:
        pytest.skip(f"no trained weights: run python -m refine_core train {name}")


@pytest.fixture(scope="module")
def clip_pair():
    """A real validation clip (CMU 001_01, 600 frames) and its vibe_like corruption."""
    if not data_root().is_dir():
        pytest.skip("CMU data folder (../shared/data) not found")
    clean = load_cmu(split="val")[0].slice(0, 600)
    noisy, _ = noise.corrupt(clean, "vibe_like", 3)
    return clean, noisy


@pytest.mark.parametrize("name", LEARNED)
def test_refines_a_real_noisy_clip(name, clip_pair):
    needs_weights(name)
    clean, noisy = clip_pair
    out = refine(noisy, name, device="cpu")
    assert out.num_frames == noisy.num_frames
    assert np.allclose(np.linalg.norm(out.rotations, axis=-1), 1.0, atol=1e-6)
    changed = ~np.all(np.isclose(out.rotations, noisy.rotations), axis=(1, 2))
    assert changed.all(), "every frame is refined, none copied"
    before, after = evaluate(noisy, clean), evaluate(out, clean)
    assert after["accel_error"] < 0.5 * before["accel_error"], (before, after)
    assert after["mpjpe"] < before["mpjpe"], (before, after)


@pytest.mark.parametrize("name", LEARNED)
@pytest.mark.parametrize("frames", [3, 5])
def test_short_motions_keep_their_shape(name, frames):
    needs_weights(name)
    out = refine(walking_motion(frames), name, device="cpu")
    assert out.rotations.shape == (frames, 24, 4) and out.trans.shape == (frames, 3)
    assert np.all(np.isfinite(out.rotations)) and np.all(np.isfinite(out.trans))


@pytest.mark.parametrize("name", LEARNED)
def test_deterministic_and_range_respected(name, clip_pair):
    needs_weights(name)
    _, noisy = clip_pair
    part = noisy.slice(0, 240)
    a = refine(part, name, device="cpu", frame_range=(60, 180), blend=4)
    b = refine(part, name, device="cpu", frame_range=(60, 180), blend=4)
    assert np.array_equal(a.rotations, b.rotations) and np.array_equal(a.trans, b.trans)
    outside = np.r_[0:60, 181:240]
    assert np.array_equal(a.rotations[outside], part.rotations[outside])


@pytest.mark.parametrize("name", LEARNED)
def test_training_smoke(name, tmp_path):
    """Three training steps on synthetic walks write a checkpoint that loads back."""
    clips = [walking_motion(400, seed=s) for s in range(3)]
    info = train_method(name, out=tmp_path / "m.pt", clips=clips, steps=3, log=lambda *_: None)
    assert np.isfinite(info["final_loss"])
    method = METHODS[name].declaration()
    model, _, stored = load_model(tmp_path / "m.pt", method.network, method.config)
    assert stored["method"] == name and not model.training
    assert stored["loss"] == method.recipe.loss_params


@pytest.mark.parametrize("name", [n for n in LEARNED if METHODS[n].declaration().migrate is not None])
def test_format_1_weights_still_load_and_refine_the_same(name, tmp_path):
    """Checkpoints written before the one 6D layout (format 1) are migrated on load."""
    import torch

    needs_weights(name)
    method = METHODS[name].declaration()
    ckpt = torch.load(METHODS[name].weights_path, weights_only=True)
    assert ckpt["format"] == 2
    old = ckpt["state_dict"]
    for _ in range(3):  # the 6D channel permutation has order 4: three times is its inverse
        old = method.migrate(old, 1)
    torch.save({**ckpt, "format": 1, "state_dict": old}, tmp_path / "old.pt")
    motion = walking_motion(120, seed=5)
    a, b = method.refine(motion), method.refine(motion, weights=tmp_path / "old.pt")
    assert np.array_equal(a.rotations, b.rotations) and np.array_equal(a.trans, b.trans)
    assert not np.array_equal(method.migrate(old, 1)["step_weight" if name == "tar" else "output_layer.weight"],
                              old["step_weight" if name == "tar" else "output_layer.weight"])


def test_cli_train_loss_overrides_reach_the_checkpoint_and_bad_keys_are_named(tmp_path, monkeypatch, capsys):
    """`train tar --loss root_accel_weight=10` trains with that loss parameter and
    records it; an unknown key or a non-number is refused before any data is read."""
    from refine_core.cli import main
    from refine_core.train import dataset

    monkeypatch.setattr(dataset, "load_clips", lambda *a, **k: [walking_motion(300, seed=s) for s in range(2)])
    out = tmp_path / "tar.pt"
    assert main(["train", "tar", "--steps", "2", "--loss", "root_accel_weight=10", "--out", str(out)]) == 0
    method = METHODS["tar"].declaration()
    stored = load_model(out, method.network, method.config)[2]
    assert stored["loss"] == {**method.recipe.loss_params, "root_accel_weight": 10.0}
    for bad in ("nope=1", "accel_weight=fast", "accel_weight"):
        assert main(["train", "tar", "--loss", bad, "--out", str(tmp_path / "x.pt")]) != 0
        assert bad.split("=")[0] in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
