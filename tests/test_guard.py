"""The guard (refine_core/refiners/guard.py): what a learned method may change."""
import numpy as np

from refine_core.refiners import guard
from refine_core.rotations import axis_angle_to_quat, continuous_signs, quat_angle_between, quat_multiply
from refine_core.synthetic import walking_motion

EVERY = slice(None)


def turned(quats, degrees, joints=EVERY, frames=EVERY):
    """``quats`` with ``joints`` of ``frames`` turned by ``degrees`` about x."""
    out = quats.copy()
    turn = axis_angle_to_quat(np.array([np.radians(degrees), 0.0, 0.0]))
    out[frames, joints] = quat_multiply(out[frames, joints], turn)
    return continuous_signs(out)


def test_a_held_pose_may_move_only_by_the_floor():
    held = np.tile(walking_motion(1).rotations, (200, 1, 1))
    trans = np.zeros((200, 3))
    q, t = guard.guard(held, trans, turned(held, 5.0), trans + 0.01, strength=3.0)
    assert np.degrees(quat_angle_between(q, held)).max() <= guard.FLOOR_DEG + 1e-6
    assert np.abs(t - trans).max() <= guard.FLOOR_M + 1e-9


def test_a_spike_may_be_removed_but_a_clean_pose_may_not_be_bent():
    walk = walking_motion(300, seed=1)
    clean = continuous_signs(walk.rotations)
    spiked = turned(clean, 40.0, joints=[18], frames=[150])  # one frame, one elbow
    q, _ = guard.guard(spiked, walk.trans, clean, walk.trans, strength=3.0)
    assert np.degrees(quat_angle_between(q[150, 18], clean[150, 18])) < 0.5  # the fix passes
    bent = turned(clean, 8.0, joints=[4])  # a habit: a knee bent all along
    q, _ = guard.guard(clean, walk.trans, bent, walk.trans, strength=3.0)
    assert np.degrees(quat_angle_between(q[:, 4], clean[:, 4])).mean() < 2.0


def test_noisier_input_allows_larger_changes():
    walk = walking_motion(300, seed=2)
    clean = continuous_signs(walk.rotations)
    rng = np.random.default_rng(0)
    jitter = continuous_signs(quat_multiply(clean, axis_angle_to_quat(rng.normal(0, np.radians(2.0), clean.shape[:-1] + (3,)))))
    floor, least = guard.chord(guard.FLOOR_DEG), guard.chord(guard.OUTLIER_DEG)
    assert guard.bounds(jitter, 3.0, floor, least).mean() > 3 * guard.bounds(clean, 3.0, floor, least).mean()


def test_a_stretch_is_bounded_as_the_whole_motion():
    walk = walking_motion(900, seed=3)
    q = turned(continuous_signs(walk.rotations), 30.0, joints=[20], frames=[400, 401])
    floor, least = guard.chord(guard.FLOOR_DEG), guard.chord(guard.OUTLIER_DEG)
    whole = guard.bounds(q, 3.0, floor, least)
    part = guard.bounds(q[300:700], 3.0, floor, least, offset=300)
    inner = slice(guard.REACH, 400 - guard.REACH)
    assert np.array_equal(whole[300:700][inner], part[inner])
    assert np.array_equal(guard.whiteness(q)[300:700][inner], guard.whiteness(q[300:700], offset=300)[inner])


def test_the_gate_opens_on_estimator_noise_and_stays_shut_on_clean_motion():
    from refine_core.train import noise

    walk = walking_motion(600, seed=4)
    clean = continuous_signs(walk.rotations)
    noisy = continuous_signs(noise.corrupt(walk, "vibe_like", 0)[0].rotations)
    assert guard.gate(guard.noise_level(clean), guard.whiteness(clean)).max() == 0.0
    assert guard.gate(guard.noise_level(noisy), guard.whiteness(noisy)).mean() > 0.7
    # open: the network's change passes; shut: a habit is cut back
    bent = turned(clean, 8.0, joints=[4])
    q, _ = guard.guard(clean, walk.trans, bent, walk.trans, strength=0.5)
    assert np.degrees(quat_angle_between(q[:, 4], clean[:, 4])).mean() < 1.0
    q, _ = guard.guard(noisy, walk.trans, turned(noisy, 8.0, joints=[4]), walk.trans, strength=0.5)
    assert np.degrees(quat_angle_between(q[:, 4], noisy[:, 4])).mean() > 7.0


def test_fast_clean_motion_reads_as_jitter_by_its_level_but_keeps_the_gate_shut():
    """A clean run at 30 fps has as much third-difference energy as jitter;
    its third differences change smoothly from frame to frame, white noise's
    flip (cosine -0.75)."""
    walk = walking_motion(600, seed=5)
    clean = continuous_signs(walk.rotations)
    rng = np.random.default_rng(0)
    angles = np.zeros(clean.shape[:-1] + (3,))
    seconds = np.arange(len(clean))[:, None] / 30.0
    angles[..., 0] = np.radians(15.0) * np.sin(2 * np.pi * 4.0 * seconds + rng.uniform(0, 2 * np.pi, 24))
    swing = continuous_signs(quat_multiply(clean, axis_angle_to_quat(angles)))  # every joint swung at 4 Hz
    level = guard.noise_level(swing)
    assert guard.gate(level).mean() > 0.9  # the level alone opens
    assert guard.gate(level, guard.whiteness(swing)).max() == 0.0
    # jitter as large as the swing's own third differences opens it (smaller jitter on motion this fast does not)
    jitter = continuous_signs(quat_multiply(swing, axis_angle_to_quat(rng.normal(0, np.radians(3.0), angles.shape))))
    assert guard.gate(guard.noise_level(jitter), guard.whiteness(jitter)).mean() > 0.9


def test_a_jittering_root_opens_its_own_gate_and_not_the_pose_gate():
    """Camera-space depth jitter under a good pose: the root may take the
    network's smoothing, the pose stays bounded; a clean root stays bounded."""
    walk = walking_motion(600, seed=5)
    clean = continuous_signs(walk.rotations)
    jittery = walk.trans + np.random.default_rng(0).normal(0, 0.02, walk.trans.shape)
    bent = turned(clean, 8.0, joints=[4])
    q, t = guard.guard(clean, jittery, bent, walk.trans, strength=0.5)
    assert np.abs(t - walk.trans).max() < 1e-6  # the smoothed root passes
    assert np.degrees(quat_angle_between(q[:, 4], clean[:, 4])).mean() < 1.0  # the pose's habit is still cut
    _, t = guard.guard(clean, walk.trans, clean, walk.trans + 0.01, strength=0.5)
    assert np.abs(t - walk.trans).max() < 0.005
