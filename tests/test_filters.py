"""refine_core.filters: classical, rotation-aware filters.

Setting: synthetic 300-frame walk at 30 fps, plus a seeded noisy copy (white
Gaussian rotation jitter of 3 degrees per axis on every joint, 1 cm root
jitter). ``python tests/test_filters.py`` prints the numbers quoted in
docs/methods/classical.md.
"""
import functools

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from refine_core import filters
from refine_core.metrics import accel, accel_error, evaluate
from refine_core.motion import Motion
from refine_core.refiners import METHODS, Cancelled, refine
from refine_core.rotations import quat_angle_between
from refine_core.synthetic import walking_motion

# Each filter with its default (tuned) parameters, as the registry runs it.
FILTERS = {name: functools.partial(getattr(filters, f"refine_{name}"), **METHODS[name].defaults)
           for name in ("butterworth", "gaussian", "oneeuro", "savgol", "slerp")}


def noisy_copy(motion, degrees=3.0, root_m=0.01, seed=0):
    """``motion`` with white Gaussian rotation noise (rotation vector, ``degrees``
    std per axis, every joint and frame) and root noise (``root_m`` std per axis)."""
    rng = np.random.default_rng(seed)
    n = motion.num_frames
    noise = Rotation.from_rotvec(rng.normal(scale=np.radians(degrees), size=(n * 24, 3)))
    rot = (Rotation.from_quat(motion.rotations.reshape(-1, 4)) * noise).as_quat().reshape(n, 24, 4)
    trans = motion.trans + rng.normal(scale=root_m, size=(n, 3))
    return motion.replace(rotations=rot, trans=trans, meta=dict(motion.meta, source="noisy walk"))


@pytest.fixture(scope="module")
def clean():
    return walking_motion(300, 30.0, seed=0)


@pytest.fixture(scope="module")
def noisy(clean):
    return noisy_copy(clean)


@pytest.fixture(scope="module")
def noisy_joints(noisy):
    return noisy.joints()


@pytest.mark.parametrize("name", FILTERS)
def test_filter_lowers_accel_and_accel_error(name, clean, noisy, noisy_joints):
    out = FILTERS[name](noisy)
    assert out.num_frames == noisy.num_frames and out.trans.shape == noisy.trans.shape
    joints, gt = out.joints(), clean.joints()
    assert accel_error(joints, gt) < 0.5 * accel_error(noisy_joints, gt)
    assert accel(joints) < 0.5 * accel(noisy_joints)
    np.testing.assert_allclose(np.linalg.norm(out.rotations, axis=-1), 1.0, atol=1e-12)
    # Root translation is filtered too (the joint metrics are pelvis-aligned).
    def root_accel(trans):
        return np.linalg.norm(np.diff(trans, n=2, axis=0), axis=1).mean()

    assert root_accel(out.trans) < 0.5 * root_accel(noisy.trans)


@pytest.mark.parametrize("name", FILTERS)
def test_input_not_mutated_and_progress_called(name, noisy):
    rot, trans, meta = noisy.rotations.copy(), noisy.trans.copy(), dict(noisy.meta)
    calls = []
    out = FILTERS[name](noisy, progress=calls.append)
    assert np.array_equal(noisy.rotations, rot) and np.array_equal(noisy.trans, trans)
    assert noisy.meta == meta and out.meta is not noisy.meta
    assert calls and all(0.0 <= f <= 1.0 for f in calls)


@pytest.mark.parametrize("name", FILTERS)
def test_progress_may_cancel(name, noisy):
    def stop(fraction):
        raise Cancelled()

    with pytest.raises(Cancelled):
        FILTERS[name](noisy, progress=stop)


@pytest.mark.parametrize("name", FILTERS)
def test_sign_flips_do_not_change_output(name, noisy):
    rng = np.random.default_rng(7)
    flipped = noisy.rotations * np.where(rng.random(noisy.rotations.shape[:2]) < 0.3, -1.0, 1.0)[..., None]
    a = FILTERS[name](noisy)
    b = FILTERS[name](noisy.replace(rotations=flipped))
    assert quat_angle_between(a.rotations, b.rotations).max() < 1e-6
    np.testing.assert_allclose(a.trans, b.trans, atol=1e-12)


@pytest.mark.parametrize("num_frames", [3, 5])
@pytest.mark.parametrize("name", FILTERS)
def test_short_motions(name, num_frames, noisy):
    short = noisy.slice(0, num_frames)
    out = FILTERS[name](short)
    assert out.rotations.shape == (num_frames, 24, 4) and out.trans.shape == (num_frames, 3)
    assert np.all(np.isfinite(out.rotations)) and np.all(np.isfinite(out.trans))
    np.testing.assert_allclose(np.linalg.norm(out.rotations, axis=-1), 1.0, atol=1e-12)


def _sine_motion(num_frames=150, fps=30.0, hz=0.5):
    """Slow sinusoidal swing of hips, knees, shoulders and a swaying root."""
    t = np.arange(num_frames) / fps
    wave = np.sin(2 * np.pi * hz * t)
    rotvec = np.zeros((num_frames, 24, 3))
    for joint, amp in ((1, 0.5), (2, -0.5), (4, 0.4), (16, 0.6), (17, -0.6)):
        rotvec[:, joint, 0] = amp * wave
    rot = Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_quat().reshape(num_frames, 24, 4)
    trans = np.stack([0.1 * wave, np.zeros_like(t), np.zeros_like(t)], axis=1)
    return Motion(rot, trans, fps)


def test_butterworth_is_zero_phase():
    motion = _sine_motion()
    out = filters.refine_butterworth(motion, cutoff_hz=4.0)
    assert quat_angle_between(out.rotations, motion.rotations).max() < np.radians(0.05)
    np.testing.assert_allclose(out.trans, motion.trans, atol=1e-4)
    # Peaks stay on the same frames (a causal filter would move them later).
    mid = slice(20, 130)
    assert np.argmax(out.trans[mid, 0]) == np.argmax(motion.trans[mid, 0])


def test_oneeuro_is_causal():
    """A change at frame 50 leaves frames 0..49 untouched (the One Euro filter
    never looks ahead), unlike the zero-phase filters."""
    motion = _sine_motion()
    changed = motion.replace(trans=motion.trans.copy())
    changed.trans[50:] += 0.2
    a, b = FILTERS["oneeuro"](motion), FILTERS["oneeuro"](changed)
    assert np.array_equal(a.trans[:50], b.trans[:50])
    assert not np.array_equal(a.trans[50:], b.trans[50:])


def test_butterworth_above_nyquist_returns_input(noisy):
    out = filters.refine_butterworth(noisy, cutoff_hz=15.0)
    assert np.array_equal(out.rotations, noisy.rotations) and np.array_equal(out.trans, noisy.trans)


def test_slerp_keeps_keys(noisy):
    out = filters.refine_slerp(noisy, step=5)
    keys = list(range(0, 300, 5)) + [299]
    assert np.array_equal(out.rotations[keys], noisy.rotations[keys])
    np.testing.assert_allclose(out.trans[keys], noisy.trans[keys], atol=1e-15)


def test_through_registry_range_is_bit_identical_outside(noisy):
    before_rot, before_trans = noisy.rotations.copy(), noisy.trans.copy()
    out = refine(noisy, "butterworth", frame_range=(20, 120), blend=5)
    outside = np.r_[0:20, 121:300]
    assert np.array_equal(out.rotations[outside], before_rot[outside])
    assert np.array_equal(out.trans[outside], before_trans[outside])
    inside = slice(20, 121)
    assert accel(out.joints()[inside]) < 0.5 * accel(noisy.joints()[inside])


def table(degrees=3.0, root_m=0.01, num_frames=300, seed=0):
    """Rows of evaluate() for the noisy input and each filter at its defaults."""
    import time

    clean = walking_motion(num_frames, 30.0, seed=seed)
    noisy = noisy_copy(clean, degrees, root_m)
    rows = [("clean walk", evaluate(clean, clean), 0.0), ("noisy input", evaluate(noisy, clean), 0.0)]
    for name, run in FILTERS.items():
        start = time.perf_counter()
        out = run(noisy)
        rows.append((name, evaluate(out, clean), time.perf_counter() - start))
    return rows


def _print_table(degrees, root_m):
    print(f"\nNoise: {degrees} deg rotation jitter, {100 * root_m:g} cm root jitter\n")
    print("| method | MPJPE mm | PA-MPJPE mm | accel error mm/f^2 | accel mm/f^2 | jitter m/s^3 | time ms |")
    print("|---|---|---|---|---|---|---|")
    for name, r, secs in table(degrees, root_m):
        print(f"| {name} | {r['mpjpe']:.1f} | {r['pa_mpjpe']:.1f} | {r['accel_error']:.1f} | {r['accel']:.1f} "
              f"| {r['jitter']:.0f} | {1000 * secs:.0f} |")


if __name__ == "__main__":
    _print_table(3.0, 0.01)  # the tests' setting
    _print_table(1.0, 0.005)  # milder, accel error near a video estimator's
