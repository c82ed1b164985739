"""What ``refine`` owes every method: ranged equals whole, the input untouched,
one-frame ranges, parameters checked before any work."""
import numpy as np
import pytest

from refine_core.errors import BadInputError
from refine_core.refiners import METHODS, check_request, refine
from refine_core.rotations import quat_angle_between
from refine_core.synthetic import walking_motion
from refine_core.train import noise

RUNNABLE = [name for name, m in METHODS.items() if m.available]


@pytest.fixture(scope="module")
def noisy_walk():
    """A 600-frame synthetic walk with vibe_like noise (no data folder needed)."""
    noisy, _ = noise.corrupt(walking_motion(600, seed=2), "vibe_like", 1)
    return noisy


@pytest.mark.parametrize("name", RUNNABLE)
def test_ranged_refinement_equals_whole_inside_the_range(name, noisy_walk):
    whole = refine(noisy_walk, name, device="cpu")
    ranged = refine(noisy_walk, name, device="cpu", frame_range=(200, 400))
    inside = slice(200, 401)
    angle = quat_angle_between(whole.rotations[inside], ranged.rotations[inside]).max()
    assert angle < 1e-4, f"{name}: {np.degrees(angle):.4f} degrees apart inside the range"
    assert np.abs(whole.trans[inside] - ranged.trans[inside]).max() < 1e-5
    outside = np.r_[0:200, 401:600]
    assert np.array_equal(ranged.rotations[outside], noisy_walk.rotations[outside])


@pytest.mark.parametrize("name", RUNNABLE)
def test_refine_does_not_change_its_input(name, noisy_walk):
    motion = noisy_walk.slice(0, 200).replace(rotations=noisy_walk.rotations[:200] * 1.5,  # non-unit: validate renormalises
                                              trans=noisy_walk.trans[:200].astype(np.float32), fps=30)
    before = (motion.rotations.copy(), motion.trans.copy(), dict(motion.meta))
    refine(motion, name, device="cpu", frame_range=(50, 150))
    assert np.array_equal(motion.rotations, before[0]) and motion.rotations.dtype == before[0].dtype
    assert np.array_equal(motion.trans, before[1]) and motion.trans.dtype == np.float32
    assert motion.meta == before[2] and motion.fps == 30


@pytest.mark.parametrize("name", RUNNABLE)
def test_one_frame_range_fixes_a_spike_and_changes_only_that_row(name):
    clean = walking_motion(120, seed=3)
    spiked = clean.replace(rotations=clean.rotations.copy(), meta=dict(clean.meta))
    kick = np.array([0.0, 0.0, np.sin(0.4), np.cos(0.4)])  # 46 degrees about z at the left knee
    from scipy.spatial.transform import Rotation

    spiked.rotations[61, 4] = (Rotation.from_quat(spiked.rotations[61, 4]) * Rotation.from_quat(kick)).as_quat()
    out = refine(spiked, name, device="cpu", frame_range=(61, 61))
    changed = np.flatnonzero(~np.all(out.rotations == spiked.rotations, axis=(1, 2)) | ~np.all(out.trans == spiked.trans, axis=1))
    assert set(changed) <= {61}
    error_before = quat_angle_between(spiked.rotations[61, 4], clean.rotations[61, 4])
    error_after = quat_angle_between(out.rotations[61, 4], clean.rotations[61, 4])
    assert error_after < 0.7 * error_before, (name, np.degrees(error_before), np.degrees(error_after))


@pytest.mark.parametrize("name", list(METHODS))
def test_every_declared_parameter_is_checked(name):
    spec = METHODS[name]
    if not spec.available:
        pytest.skip("no weights")
    for param in spec.params():
        for bad in ("x", float("nan"), 1e12, -1e12):
            with pytest.raises(BadInputError, match=f"{name}: {param.name} must be"):
                check_request(name, params={param.name: bad})
        assert check_request(name, params={param.name: param.default}).params[param.name] == param.default
    with pytest.raises(BadInputError, match=f"{name} has no parameter 'nope'"):
        check_request(name, params={"nope": 1})


def test_parameters_parse_from_pairs_and_json_alike():
    a = check_request("butterworth", params=["cutoff_hz=5"]).params
    b = check_request("butterworth", params='{"cutoff_hz": 5}').params
    assert a == b == {"cutoff_hz": 5.0}
    with pytest.raises(BadInputError, match="expected key=value"):
        check_request("butterworth", params=["cutoff_hz"])
    with pytest.raises(BadInputError, match="batch must be an integer"):
        check_request("hpr", params={"batch": 2.5})


@pytest.mark.parametrize("blend, strength, message", [(-1, 1.0, "blend must be"), (2.5, 1.0, "blend must be"),
                                                      (0, 1.5, "strength must be"), (0, "1", "strength must be")])
def test_request_checks_blend_and_strength(blend, strength, message):
    with pytest.raises(BadInputError, match=message):
        check_request("gaussian", blend=blend, strength=strength)
