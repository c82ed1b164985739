"""The noise zoo: each failure family alone, the clean and modern levels, the
random sampler and leave-one-family-out; the original presets unchanged."""
import numpy as np
import pytest

from refine_core.motion import Motion
from refine_core.rotations import quat_angle_between, quat_to_matrix
from refine_core.skeleton import MIRROR, Skeleton
from refine_core.synthetic import walking_motion
from refine_core.train import data, noise

ROOT = data.data_root()
needs_data = pytest.mark.skipif(not ROOT.is_dir(), reason=f"CMU BVH data not found at {ROOT} (set {data.DATA_ENV})")


def alone(family, level="heavy", **extra):
    """Only ``family`` on, at ``level`` (rates raised by ``extra``)."""
    return noise.family_config(family, level, base=noise.CLEAN).scaled(**extra)


def _symmetric(motion: Motion) -> Motion:
    rest = Skeleton().rest_joints
    sym = 0.5 * (rest + rest[MIRROR] * [-1.0, 1.0, 1.0])
    return motion.replace(skeleton=Skeleton(rest_joints=sym, source="symmetrised neutral"))


def test_original_presets_are_unchanged_for_their_seeds():
    """Recorded with the noise model before the zoo (commit 129ec43): sum |q|,
    sum trans and corrupted frames of a 120-frame synthetic walk, seed 0."""
    recorded = {"mild": [3235.217365462605, 138.78542111042617, 0],
                "vibe_like": [3349.816313927904, 138.0305092944516, 19],
                "heavy": [3439.1330491893564, 138.91140765965764, 26]}
    clean = walking_motion(120, fps=30.0)
    for preset, want in recorded.items():
        noisy, mask = noise.corrupt(clean, preset, 0)
        np.testing.assert_allclose([np.abs(noisy.rotations).sum(), noisy.trans.sum(), mask.sum()], want, rtol=1e-12)


def test_clean_preset_is_the_identity():
    clean = walking_motion(90)
    noisy, mask = noise.corrupt(clean, "clean", 0)
    np.testing.assert_allclose(noisy.joints(), clean.joints(), atol=1e-12)
    assert not mask.any()


@pytest.mark.parametrize("family", ["swap", "flip", "twist", "frames", "spikes", "occlusion"])
def test_burst_families_touch_only_their_frames(family):
    clean = walking_motion(300)
    noisy, mask = noise.corrupt(clean, alone(family), 3)
    assert 0 < mask.mean() < 0.6
    err = np.linalg.norm(noisy.joints() - clean.joints(), axis=-1).max(axis=1)
    assert err[~mask].max() < 1e-9  # untouched frames are the clean ones
    assert err[mask].max() > 0.02


def test_swap_trades_reflected_limbs():
    clean = walking_motion(300)
    noisy, mask = noise.corrupt(clean, alone("swap", swap_rate_hz=1.0), 1)
    reflect = np.diag([-1.0, 1.0, 1.0])
    got, ref = quat_to_matrix(noisy.rotations[mask]), quat_to_matrix(clean.rotations[mask])
    arms, legs = noise.PAIRS["arms"], noise.PAIRS["legs"]
    for frame in range(len(got)):
        for left, right in (arms, legs):
            swapped = np.allclose(got[frame][list(left)], reflect @ ref[frame][list(right)] @ reflect, atol=1e-9)
            same = np.allclose(got[frame][list(left)], ref[frame][list(left)], atol=1e-9)
            assert swapped or same
    assert not np.allclose(got, ref)


def test_flip_reflects_the_body_in_depth():
    """A flipped frame's pelvis-relative joints are the clean ones reflected
    z -> -z with left and right relabelled (exact on a symmetric body)."""
    clean = _symmetric(walking_motion(300))
    noisy, mask = noise.corrupt(clean, alone("flip", flip_rate_hz=1.0), 2)
    g, p = clean.joints()[mask], noisy.joints()[mask]
    want = (g[:, MIRROR] - g[:, :1]) * [1.0, 1.0, -1.0]
    np.testing.assert_allclose(p - p[:, :1], want, atol=1e-9)


def test_twist_turns_one_forearm_or_wrist_half_round():
    clean = walking_motion(300)
    noisy, mask = noise.corrupt(clean, alone("twist", twist_rate_hz=1.0), 4)
    angle = np.degrees(quat_angle_between(noisy.rotations, clean.rotations))
    twisted = angle[mask][:, list(noise.TWIST_JOINTS)]
    assert twisted.max(axis=1).min() > 150.0  # every burst frame has one joint turned 160-200 degrees
    others = [j for j in range(24) if j not in noise.TWIST_JOINTS]
    assert angle[:, others].max() < 1e-4  # degrees: matrix round trip only


def test_frame_faults_repeat_or_skip_clean_frames():
    clean = walking_motion(300)
    noisy, mask = noise.corrupt(clean, alone("frames", frame_fault_rate_hz=2.0), 5)
    for t in np.flatnonzero(mask):
        near = [s for s in range(max(t - 3, 0), min(t + 2, 300)) if np.allclose(noisy.trans[t], clean.trans[s])]
        assert near and near[0] != t or np.allclose(noisy.trans[t], clean.trans[t])


def test_root_scales_camera_metres_world_millimetres():
    clean = walking_motion(600)
    cam, _ = noise.corrupt(clean, alone("root_camera", "heavy"), 0)
    world, _ = noise.corrupt(clean, alone("root_world", "modern"), 0)
    depth_step = lambda m: np.std(np.diff(m.trans[:, 2] - clean.trans[:, 2]))  # noqa: E731
    assert depth_step(cam) > 0.5  # metres of depth jitter per frame
    assert depth_step(world) < 0.01


def test_sampler_is_seeded_leaves_out_families_and_sometimes_clean():
    a = [noise.sample_config(np.random.default_rng(s)) for s in range(3)]
    b = [noise.sample_config(np.random.default_rng(s)) for s in range(3)]
    assert a == b
    rng = np.random.default_rng(0)
    draws = [noise.sample_config(rng, exclude=("swap", "root_camera")) for _ in range(300)]
    assert all(c.swap_rate_hz == 0 for c in draws)
    assert all(c.depth_factor * c.trans_white_mm < 100 for c in draws)  # never camera-scale
    assert any(c == noise.CLEAN for c in draws) and any(c.flip_rate_hz > 0 for c in draws)
    assert len({c for c in draws}) > 200  # levels and magnitudes vary
    with pytest.raises(ValueError, match="unknown noise families"):
        noise.sample_config(rng, exclude=("jitter",))
    with pytest.raises(ValueError, match="unknown noise family"):
        noise.family_config("jitter")


def test_family_config_raises_one_family_over_modern():
    cfg = noise.family_config("swap")
    assert cfg.swap_rate_hz == noise.FAMILIES["swap"]["vibe_like"]["swap_rate_hz"]
    assert cfg.white_deg == noise.MODERN.white_deg and cfg.flip_rate_hz == 0


@needs_data
def test_modern_level_on_validation():
    """WHAM / GVHMR / TRAM level: accel error about 5-7 mm/frame^2, MPJPE about 40."""
    val30 = data.load_cmu(fps=30, split="val")
    m = noise.measure(val30, "modern", seed=0)
    assert 4.5 <= m["accel_error"] <= 7.5 and 32.0 <= m["mpjpe"] <= 48.0
