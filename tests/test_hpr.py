"""HPR-Net: the paper's pieces (affinity, sign-consistent quaternion average), the
per-chain groups, the shipped weights on a real validation clip, a training smoke run."""
import numpy as np
import pytest
import torch

from refine_core.metrics import evaluate
from refine_core.refiners import METHODS, refine
from refine_core.refiners.common import load_model, motion_tensors
from refine_core.refiners.hpr import HPRConfig, HPRNet, joint_groups, refine_windows
from refine_core.rotations import axis_angle_to_quat, matrix_to_quat, quat_to_matrix
from refine_core.skeleton import LIMB_CHAINS
from refine_core.synthetic import walking_motion
from refine_core.train import data, noise

torch.set_num_threads(1)
ROOT = data.data_root()
needs_data = pytest.mark.skipif(not ROOT.is_dir(), reason=f"CMU BVH data not found at {ROOT} (set {data.DATA_ENV})")
needs_weights = pytest.mark.skipif(not METHODS["hpr"].available,
                                   reason="refine_core/weights/hpr.pt missing: train it with `python -m refine_core train hpr`")


def _random_chunks(batch=8, n=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.nn.functional.normalize(torch.randn(batch, n, 24, 4, generator=g), dim=-1)
    return q, torch.randn(batch, n, 3, generator=g)


def _shipped():
    from refine_core.resources import weights_path

    return load_model(weights_path("hpr"), HPRNet, HPRConfig)[0]


@pytest.mark.parametrize("per_chain,level_features", [(False, False), (True, False), (False, True)])
def test_affinities_are_distributions_over_the_chunk(per_chain, level_features):
    torch.manual_seed(0)
    model = HPRNet(HPRConfig(per_chain=per_chain, level_features=level_features)).eval()
    q, t = _random_chunks()
    with torch.no_grad():
        refined, trans, w = model(q, t)
    groups = 5 if per_chain else 1
    assert w.shape == (8, groups, 17)
    assert (w >= 0).all() and torch.allclose(w.sum(-1), torch.ones(8, groups))
    assert torch.allclose(refined.norm(dim=-1), torch.ones(8, 24), atol=1e-6)
    # The translation is a convex combination of the chunk's: inside its bounding box.
    assert ((trans >= t.min(1).values - 1e-6) & (trans <= t.max(1).values + 1e-6)).all()


def test_chunk_level_reads_jitter_but_not_a_spike():
    """The level-feature ablation's input: white jitter raises a joint's level,
    one spiked frame in the chunk barely does (a median), other joints not at all."""
    from refine_core.refiners.hpr import chunk_level

    swing = np.zeros((17, 24, 3))  # every joint still but one knee, swinging at 1 Hz
    swing[:, 5, 0] = 0.5 * np.sin(2 * np.pi * np.arange(17) / 30.0)
    rng = np.random.default_rng(0)
    jitter = np.zeros((17, 24, 3))
    jitter[:, 5] = rng.normal(0, np.radians(1.0), (17, 3))
    spike = np.zeros((17, 24, 3))
    spike[8, 5, 1] = np.radians(30.0)

    def level_with(error):
        rot = quat_to_matrix(axis_angle_to_quat(swing)) @ quat_to_matrix(axis_angle_to_quat(error))
        return chunk_level(torch.as_tensor(matrix_to_quat(rot), dtype=torch.float32)[None])[0]

    base = level_with(np.zeros_like(swing))
    jittered, spiked = level_with(jitter), level_with(spike)
    assert jittered[5] > base[5] + 1.0  # log units: several times the clean chunk's level
    assert abs(spiked[5] - base[5]) < 0.5 * (jittered[5] - base[5])
    others = [j for j in range(24) if j != 5]
    assert torch.allclose(jittered[others], base[others])


def test_a_sparse_chunk_averages_the_frames_at_its_offsets():
    """A sparse chunk (N frames spread over a longer reach) weighs exactly the
    frames at its offsets; offsets that are not N symmetric ascending ones are refused."""
    from refine_core.refiners.hpr import chunk_driver, chunk_frames

    offsets = (-16, -11, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 11, 16)
    config = HPRConfig(offsets=offsets)
    assert chunk_driver(config).context == 16
    assert chunk_frames(config, 1).tolist() == [o + 17 for o in offsets]
    torch.manual_seed(0)
    model = HPRNet(config).eval()
    q, t = _random_chunks(batch=1, n=60)
    whole_q, whole_t = refine_windows(model, q[0], t[0])
    with torch.no_grad():
        frame_q, frame_t, w = model(q[:, [30 + o for o in offsets]], t[:, [30 + o for o in offsets]])
    assert w.shape == (1, 1, 17)
    assert torch.allclose(whole_q[30], frame_q[0], atol=1e-6) and torch.allclose(whole_t[30], frame_t[0], atol=1e-6)
    far = q.clone()
    far[:, 30 + 5] = torch.nn.functional.normalize(torch.randn(24, 4), dim=-1)  # offset 5 is not in the chunk
    assert torch.equal(refine_windows(model, far[0], t[0])[0][30], whole_q[30])
    for bad in ((-2, -1, 0, 1, 2), (-8, -2, 0, 1, 8) + tuple(range(20, 32)), tuple(range(-8, 9))[::-1]):
        with pytest.raises(ValueError, match="offsets"):
            HPRNet(HPRConfig(offsets=bad))


def test_joint_groups_cover_every_joint_once():
    assert (joint_groups(False) == 0).all()
    groups = joint_groups(True)
    assert groups.shape == (24,) and set(groups.tolist()) == set(range(5))
    torso = groups[LIMB_CHAINS["spine_head"][0]]
    assert groups[0] == torso  # the pelvis (global orientation) moves with the torso
    for chain in LIMB_CHAINS.values():
        assert len(set(groups[list(chain)].tolist())) == 1


@pytest.mark.parametrize("per_chain", [False, True])
def test_quaternion_signs_do_not_matter(per_chain):
    """q and -q are one rotation: flipping signs inside the chunk changes nothing."""
    torch.manual_seed(1)
    model = HPRNet(HPRConfig(per_chain=per_chain)).eval()
    q, t = _random_chunks(seed=1)
    flips = torch.where(torch.rand(q.shape[:-1] + (1,)) < 0.5, -1.0, 1.0)
    with torch.no_grad():
        a, _, _ = model(q, t)
        b, _, _ = model(q * flips, t)
    assert torch.allclose((a * b).sum(-1).abs(), torch.ones(8, 24), atol=1e-5)


@needs_weights
def test_a_still_pose_is_kept_exactly():
    """Every frame alike: any weighted average is that frame."""
    motion = walking_motion(1, seed=2)
    q = torch.as_tensor(motion.rotations, dtype=torch.float32).expand(40, 24, 4).contiguous()
    t = torch.as_tensor(motion.trans, dtype=torch.float32).expand(40, 3).contiguous()
    out_q, out_t = refine_windows(_shipped(), q, t)
    assert torch.allclose((out_q * q).sum(-1).abs(), torch.ones(40, 24), atol=1e-6)
    assert torch.allclose(out_t, t, atol=1e-6)


@needs_weights
def test_shipped_affinities_skip_a_spike():
    """The learned weights give a frame with a 60-degree spike on the left arm less
    weight than its clean neighbours (in the arm's group when weights are per chain)."""
    model = _shipped()
    motion = walking_motion(60, seed=3)
    spiked = motion.rotations.copy()
    frame = 30
    arm = list(LIMB_CHAINS["left_arm"])[:3]
    spike = axis_angle_to_quat(np.tile([0.0, 0.0, np.radians(60)], (len(arm), 1)))
    spiked[frame, arm] = matrix_to_quat(quat_to_matrix(spiked[frame, arm]) @ quat_to_matrix(spike))
    q, t = motion_tensors(motion.replace(rotations=spiked))
    centre = frame + 1
    n = model.config.chunk
    window = torch.arange(centre - n // 2, centre + n // 2 + 1)
    with torch.no_grad():
        _, _, w = model(q[window][None], t[window][None])
    group = int(model.groups[arm[0]])
    arm_weights = w[0, group]
    spike_index = n // 2 - 1
    neighbours = torch.cat([arm_weights[spike_index - 3:spike_index], arm_weights[spike_index + 1:spike_index + 4]])
    assert arm_weights[spike_index] < 0.5 * neighbours.mean()


@needs_data
@needs_weights
def test_shipped_weights_on_a_validation_clip():
    # Measured with the shipped weights (seed 3): accel error 0.20 of the noisy input's, MPJPE 0.99,
    # corrupted-frame MPJPE 0.93. Most of this clip's error is slow bias no 17-frame average removes.
    clip = max(data.load_cmu(fps=30, split="val"), key=lambda c: c.num_frames)
    noisy, mask = noise.corrupt(clip, "vibe_like", np.random.default_rng(3))
    before, after = evaluate(noisy, clip, mask=mask), evaluate(refine(noisy, "hpr"), clip, mask=mask)
    assert after["accel_error"] < 0.3 * before["accel_error"]
    assert after["mpjpe"] < before["mpjpe"]
    assert after["mpjpe_corrupted"] < 0.97 * before["mpjpe_corrupted"]


@needs_data
def test_training_smoke_run(tmp_path):
    """A few steps of the real recipe on one clip write loadable weights that refine."""
    from refine_core.train.loop import train_method

    clip = data.load_cmu(fps=30, split="train")[0].slice(0, 200)
    out = tmp_path / "hpr.pt"
    info = train_method("hpr", out=out, clips=[clip], steps=3, log=lambda m: None)
    assert np.isfinite(info["final_loss"])
    model, config, recipe = load_model(out, HPRNet, HPRConfig)
    assert recipe["train"]["steps"] == 3 and config.chunk == 17
    q, t = motion_tensors(clip.slice(0, 30))
    out_q, _ = refine_windows(model, q, t)
    assert out_q.shape == q.shape and torch.isfinite(out_q).all()
