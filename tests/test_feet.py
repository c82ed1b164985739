"""Foot contacts, the floor and foot locking (refine_core.feet) and the foot metrics."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from refine_core import BadInputError, Motion
from refine_core.cli import main
from refine_core.feet import (
    FOOT_JOINTS,
    FeetParams,
    check_feet,
    contact_segments,
    detect_contacts,
    feet_metrics,
    feet_params,
    flight_phases,
    label_contacts,
    lock_feet,
    two_bone_ik,
    up_vector,
)
from refine_core.formats import read_motion, write_npz
from refine_core.kinematics import fk_globals
from refine_core.metrics import contact_scores, foot_sliding, ground_penetration
from refine_core.refiners import refine
from refine_core.skeleton import JOINT_NAMES
from refine_core.synthetic import walking_motion
from refine_core.train.data import data_root

J = {name: i for i, name in enumerate(JOINT_NAMES)}


def standing(frames=90, jitter_mm=6.0, seed=0, up_axis="Y"):
    """Standing still, legs slightly bent, toes on y = 0, a jittery root (as an estimator writes it)."""
    rng = np.random.default_rng(seed)
    rotvec = np.zeros((frames, 24, 3))
    rotvec[:, [J["left_shoulder"], J["right_shoulder"]], 2] = [-1.2, 1.2]
    rotvec[:, [J["left_hip"], J["right_hip"]], 0] = -0.15
    rotvec[:, [J["left_knee"], J["right_knee"]], 0] = 0.3
    rotvec[:, [J["left_ankle"], J["right_ankle"]], 0] = -0.15
    rotvec[:, 1:] += rng.normal(0, np.radians(0.3), (frames, 23, 3))
    motion = Motion.from_axis_angle(rotvec.reshape(frames, 72), np.zeros((frames, 3)), 30.0, meta={"up_axis": up_axis})
    toe = motion.joints()[:, FOOT_JOINTS, 1].min()
    trans = np.zeros((frames, 3))
    trans[:, 1] = -toe
    trans += rng.normal(0, jitter_mm / 1000, (frames, 3)) * [1, 0.3, 1]
    return motion.replace(trans=trans)


def test_standing_feet_are_found_and_held_still():
    motion = standing()
    contacts, floor = detect_contacts(motion)
    assert contacts.mean() > 0.95 and abs(floor) < 0.01
    before = foot_sliding(motion.joints(), contacts)
    locked = lock_feet(motion)
    after = foot_sliding(locked.joints(), contacts)
    assert before > 3.0 and after < 0.5, (before, after)
    heights = locked.joints()[:, FOOT_JOINTS, 1]
    assert heights.min() > floor - 0.01
    assert contact_segments(contacts[:, :1])[0][0][0] == 0
    # Only the root and the leg chains change.
    changed = np.flatnonzero(np.abs(locked.rotations - motion.rotations).max(axis=(0, 2)) > 0)
    assert set(changed) <= {J[n] for n in ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")}


def test_up_axis_of_the_file_is_used():
    motion = standing(up_axis="Y")
    turn = Rotation.from_rotvec([np.pi / 2, 0, 0])  # Y up -> Z up
    root = Rotation.from_quat(motion.rotations[:, 0])
    z_up = motion.replace(rotations=motion.rotations.copy(), trans=turn.apply(motion.trans + motion.skeleton.rest_joints[0])
                          - motion.skeleton.rest_joints[0], meta={"up_axis": "Z"})
    z_up.rotations[:, 0] = (turn * root).as_quat()
    assert np.allclose(up_vector(z_up), [0, 0, 1])
    assert np.allclose(z_up.joints(), turn.apply(motion.joints().reshape(-1, 3)).reshape(-1, 24, 3), atol=1e-9)
    a, fa = detect_contacts(motion)
    b, fb = detect_contacts(z_up)
    assert np.array_equal(a, b) and abs(fa - fb) < 1e-9
    assert foot_sliding(lock_feet(z_up).joints(), b, up=(0, 0, 1)) < 0.5


def test_two_bone_ik_reaches_reachable_targets():
    rng = np.random.default_rng(3)
    n = 200
    rot = Rotation.random(n * 24, random_state=4).as_quat().reshape(n, 24, 4)
    rest = walking_motion(2).skeleton.rest_joints
    pos, glob = fk_globals(rot, np.zeros((n, 3)), rest)
    hip, knee, ankle = pos[:, 1], pos[:, 4], pos[:, 7]
    reach = np.linalg.norm(knee - hip, axis=1) + np.linalg.norm(ankle - knee, axis=1)
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    target = hip + direction * (reach * rng.uniform(0.3, 0.98, n))[:, None]
    r_hip, r_knee = two_bone_ik(hip, knee, ankle, target, glob[:, 1], glob[:, 4])
    new_knee = hip + np.einsum("nij,nj->ni", r_hip, knee - hip)
    new_ankle = new_knee + np.einsum("nij,nj->ni", r_hip @ r_knee, ankle - knee)
    assert np.abs(new_ankle - target).max() < 1e-9
    assert np.allclose(np.linalg.norm(new_knee - hip, axis=1), np.linalg.norm(knee - hip, axis=1))


def test_feet_off_is_todays_output_and_lock_stays_in_the_range():
    motion = walking_motion(120)
    plain = refine(motion, "gaussian")
    off = refine(motion, "gaussian", feet="off", feet_params={"lock_radius": 0.01})
    assert np.array_equal(plain.rotations, off.rotations) and np.array_equal(plain.trans, off.trans)
    locked = refine(motion, "gaussian", frame_range=(30, 89), blend=4, feet="lock")
    assert not np.array_equal(locked.rotations[30:90], plain.rotations[30:90])
    for part in (slice(0, 30), slice(90, 120)):
        assert np.array_equal(locked.rotations[part], motion.rotations[part])
        assert np.array_equal(locked.trans[part], motion.trans[part])


def test_feet_parameters_are_checked():
    assert check_feet("off", {"nonsense": 1}) is None
    assert check_feet("lock", {"recovery_frames": 5.0}).recovery_frames == 5
    assert feet_params({"floor": 0.1}).floor == 0.1 and FeetParams().floor is None
    for bad in ({"nonsense": 1}, {"lock_radius": 0}, {"speed": "fast"}, {"recovery_frames": -1}):
        with pytest.raises(BadInputError):
            feet_params(bad)
    with pytest.raises(BadInputError):
        check_feet("glue")


def test_cli_feet_lock_and_bad_parameter(tmp_path, capsys):
    src, out = tmp_path / "walk.npz", tmp_path / "out.npz"
    write_npz(walking_motion(90), src)
    assert main(["refine", str(src), "-o", str(out), "--method", "gaussian", "--feet", "lock",
                 "--feet-param", "lock_radius=0.05"]) == 0
    locked = read_motion(out)
    plain = refine(read_motion(src), "gaussian")
    assert not np.allclose(locked.trans, plain.trans)
    bad = tmp_path / "bad.npz"
    assert main(["refine", str(src), "-o", str(bad), "--method", "gaussian", "--feet", "lock",
                 "--feet-param", "radius=1"]) == 2
    assert "radius" in capsys.readouterr().err and not bad.exists()


def test_foot_metrics_on_known_arrays():
    joints = np.zeros((5, 24, 3))
    joints[:, FOOT_JOINTS[0], 0] = np.arange(5) * 0.004  # 4 mm/frame along x
    joints[:, FOOT_JOINTS[1], 1] = np.arange(5) * 0.01  # rises: no horizontal motion
    contacts = np.zeros((5, 4), bool)
    contacts[:, :2] = True
    assert foot_sliding(joints, contacts) == pytest.approx(2.0)  # mean of 4 and 0
    joints[2, FOOT_JOINTS[2], 1] = -0.05
    share, depth = ground_penetration(joints, floor=0.0)
    assert share == pytest.approx(0.2) and depth == pytest.approx(50.0)
    pred = np.array([[1, 1, 0, 0]], bool)
    true = np.array([[1, 0, 1, 0]], bool)
    assert contact_scores(pred, true) == pytest.approx({"contact_precision": 0.5, "contact_recall": 0.5, "contact_f1": 0.5})


needs_data = pytest.mark.skipif(not data_root().is_dir(), reason="CMU data folder (../shared/data) not found")


@needs_data
@pytest.mark.parametrize("preset", ["vibe_like", "mild"])
@pytest.mark.parametrize("method", ["hpr", "butterworth"])
def test_validation_split_lock(method, preset):
    """The validation split with the bench's noise draw: the detector agrees with
    the clean labels, and method + lock slides under 3 mm/frame, with penetration
    on at most 1% of frames, MPJPE at most 0.5 mm and accel error at most 0.3
    mm/frame^2 worse than the method alone (docs/methods/feet.md; mild once
    broke the accel bar when the legs took up the root's jitter)."""
    from refine_core.bench import corrupted_clips
    from refine_core.metrics import accel_error, mpjpe
    from refine_core.train.data import load_cmu

    clips = load_cmu(split="val")
    labels = np.concatenate([label_contacts(c)[0] for c in clips])
    assert contact_scores(np.concatenate([detect_contacts(c)[0] for c in clips]), labels)["contact_f1"] > 0.9
    rows, found = [], []
    for clean, noisy, _ in corrupted_clips(clips, preset, 0):
        plain = refine(noisy, method, device="cpu")
        locked = lock_feet(plain)  # what refine(..., feet="lock") does over the whole motion
        found.append(detect_contacts(plain)[0])
        cj, pj, lj = clean.joints(), plain.joints(), locked.joints()
        after = feet_metrics(locked, clean)
        rows.append((clean.num_frames, after["foot_sliding"], after["penetration"],
                     mpjpe(lj, cj) - mpjpe(pj, cj), accel_error(lj, cj) - accel_error(pj, cj)))
    n, slide, penetration, d_mpjpe, d_accel = (np.array(col) for col in zip(*rows, strict=True))
    assert contact_scores(np.concatenate(found), labels)["contact_f1"] > 0.85
    assert np.average(slide, weights=n) < 3.0 and np.average(penetration, weights=n) <= 0.01
    assert np.average(d_mpjpe, weights=n) < 0.5 and np.average(d_accel, weights=n) < 0.3


@needs_data
def test_jumps_keep_their_flight():
    """CMU 001_01 (forward jumps): no contact is found in the clean flight frames,
    and feet well away from a contact keep their height."""
    from refine_core.train.data import load_bvh

    clean = load_bvh(data_root() / "001" / "001_01.bvh", fps=30)
    labels, _ = label_contacts(clean)
    flight = ~labels.any(axis=1)
    found, _ = detect_contacts(clean)
    landing = np.convolve(labels.any(axis=1), np.ones(5), "same") > 0  # within 2 frames of a contact
    assert flight.sum() > 50 and not (found.any(axis=1) & flight & ~landing).any()
    locked = lock_feet(clean)
    near = np.convolve(found.any(axis=1), np.ones(2 * FeetParams().recovery_frames + 9), "same") > 0
    heights = clean.joints()[:, FOOT_JOINTS, 1], locked.joints()[:, FOOT_JOINTS, 1]
    assert np.abs(heights[0] - heights[1])[flight & ~near].max() < 0.005


@needs_data
@pytest.mark.parametrize("clip", ["001_01", "001_08"])
def test_flight_phases_keep_their_height(clip):
    """A jump (001_01) and a climb with a sit (001_08), vibe_like noise, hpr:
    over the clean clip's flight phases the lock changes no foot joint's height
    by 2 cm or more against hpr alone (benchmarks/bench_feet.py --flight)."""
    from refine_core.train.data import load_bvh
    from refine_core.train.noise import corrupt

    clean = load_bvh(data_root() / "001" / f"{clip}.bvh", fps=30)
    noisy, _ = corrupt(clean, "vibe_like", np.random.default_rng(0))
    plain = refine(noisy, "hpr", device="cpu")
    locked = refine(noisy, "hpr", device="cpu", feet="lock")
    flight = flight_phases(label_contacts(clean)[0], FeetParams().lock_frames(clean.fps))
    change = np.abs(locked.joints()[:, FOOT_JOINTS, 1] - plain.joints()[:, FOOT_JOINTS, 1])[flight]
    assert flight.sum() > 100 and change.max() < 0.02, change.max()
