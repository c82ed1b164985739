"""Reliability: the bad-input corpus through the CLI, and property tests on Motion.

Corpus (tests/bad_inputs.py): every bad case exits 2 with one stderr line
naming the file and the problem and writes nothing; hostile payloads never
run; borderline cases do what docs/reliability.md says.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bad_inputs as bi
from refine_core.errors import BadInputError
from refine_core.formats import describe, read_motion
from refine_core.motion import Motion
from refine_core.refiners import METHODS, refine


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every case run once through the CLI (each in its own folder)."""
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path_factory.mktemp("corpus")
    with ThreadPoolExecutor(2) as pool:  # each case is a subprocess; two at a time halves the wait
        runs = pool.map(lambda case: (case, bi.run_cli(case, root / case.name)), bi.CASES)
        return {case.name: (case, r) for case, r in runs}


def test_corpus_is_systematic():
    assert len(bi.CASES) >= 30
    assert len(bi.BY_NAME) == len(bi.CASES)
    assert {c.stage for c in bi.CASES} == {"read", "refine", "output", "argument", "method", "ok"}
    assert sum(c.marker for c in bi.CASES) >= 2


@pytest.mark.parametrize("name", [c.name for c in bi.CASES if c.stage != "ok"])
def test_bad_input_exits_2_with_one_line_and_no_output(results, name):
    """Exit 2 (1 for a method's failure), one line naming the file (or argument) and the
    problem, the output path as it was, no temporary file left."""
    case, r = results[name]
    assert r.code == bi.EXIT_CODES[case.stage], (r.code, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    named = {"output": r.output, "argument": ""}.get(case.stage, r.input)
    assert str(named) in lines[0]
    assert case.expect in lines[0]
    assert not r.output_written
    assert not r.payload_ran
    assert not r.temps
    assert bi.problems(case, r) == ""  # the report tool's check agrees


@pytest.mark.parametrize("name", [c.name for c in bi.CASES if c.stage == "ok"])
def test_borderline_input_refines(results, name):
    case, r = results[name]
    assert r.code == 0, r.stderr
    assert r.output_written and not r.temps
    assert all(line.startswith("warning: ") for line in r.stderr.splitlines()), r.stderr
    assert case.warns is None or case.warns in r.stderr, r.stderr
    assert bi.problems(case, r) == ""
    out = read_motion(r.output)
    assert out.num_frames == read_motion(r.input).num_frames
    assert np.all(np.isfinite(out.rotations)) and np.all(np.isfinite(out.trans))


@pytest.mark.parametrize("name", [c.name for c in bi.CASES if c.max_rss_mb is not None])
def test_memory_bombs_stay_bounded(results, name):
    """Peak RSS of the CLI process (os.wait4's rusage of that child) on each bomb."""
    case, r = results[name]
    assert 0 < r.peak_rss_mb < case.max_rss_mb, (r.peak_rss_mb, r.stderr)


def test_no_case_hangs(results):
    assert not [name for name, (case, r) in results.items() if r.timed_out]


def test_oversize_extra_is_not_copied(results):
    _, r = results["npz_deflate_bomb_extra"]
    with np.load(r.output) as out:
        assert "junk" not in out.files and out["poses"].shape == (40, 72)
    assert read_motion(r.input).meta["dropped_keys"] == ["junk"]


def test_hostile_payloads_never_ran(results):
    hostile = [r for case, r in results.values() if case.marker]
    assert hostile and not any(r.payload_ran for r in hostile)
    assert all("refusing to unpickle" in r.message for r in hostile)


# ------------------------------------------------- what borderline cases do
def test_non_unit_quaternions_are_normalised(results):
    _, r = results["non_unit_quaternions"]
    raw = np.load(r.input)
    m = read_motion(r.input)
    np.testing.assert_allclose(np.linalg.norm(m.rotations, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(m.rotations, raw / np.linalg.norm(raw, axis=-1, keepdims=True), atol=1e-6)


def test_missing_fps_is_assumed_30_and_said(results):
    _, r = results["fps_missing"]
    info = describe(r.input)
    assert info["fps"] == 30.0 and info["fps_assumed"] is True
    with np.load(r.output) as out:
        assert float(out["mocap_framerate"]) == 30.0


def test_extension_is_ignored(results):
    assert describe(results["npz_named_txt"][1].input)["format"] == "amass_npz"
    assert describe(results["pkl_named_npz"][1].input)["format"] == "vibe_pkl"


def test_long_motion_refines_every_frame(results):
    _, r = results["frames_100000"]
    assert read_motion(r.output).num_frames == bi.LONG_FRAMES
    assert "frames 0..99999" in r.stdout


def test_one_and_two_frames_read_but_do_not_refine(results):
    for name, frames in (("single_frame", 1), ("two_frames", 2)):
        m = read_motion(results[name][1].input)
        assert m.num_frames == frames
        with pytest.raises(BadInputError, match="at least 3"):
            refine(m, "butterworth")


@pytest.mark.parametrize("method", [m.name for m in METHODS.values() if m.available])
def test_three_frames_refine_with_every_available_method(method):
    """Shorter than any window: refiners pad the edges (learned ones appear as their weights land)."""
    from refine_core.synthetic import walking_motion

    out = refine(walking_motion(3), method, device="cpu")
    assert out.num_frames == 3 and np.all(np.isfinite(out.rotations))


# ------------------------------------------------------ property: Motion
_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
_any_array = hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=30), elements=_floats)
_fps = st.one_of(st.none(), _floats)


def _clean_or_bad_input(fn):
    try:
        return fn()
    except BadInputError as err:
        assert "\n" not in str(err)
        return None


@settings(max_examples=150, deadline=None)
@given(rot=_any_array, trans=_any_array, fps=_fps)
def test_validate_any_arrays_is_clean_or_bad_input(rot, trans, fps):
    m = _clean_or_bad_input(lambda: Motion(rot, trans, fps).validate("x.npz"))
    if m is not None:  # what validates is a usable motion
        assert m.rotations.shape == (len(m.trans), 24, 4) and m.fps > 0
        np.testing.assert_allclose(np.linalg.norm(m.rotations, axis=-1), 1.0, atol=1e-9)


_near_motion = st.integers(1, 6).flatmap(lambda t: st.tuples(
    hnp.arrays(np.float64, (t, 24, 4), elements=_floats), hnp.arrays(np.float64, (t, 3), elements=_floats)))


@settings(max_examples=100, deadline=None)
@given(arrays=_near_motion, fps=st.floats(0.5, 240))
def test_validate_motion_shaped_arrays(arrays, fps):
    """Right shapes, any values (NaN, inf, zero, huge): validates or BadInputError."""
    rot, trans = arrays
    m = _clean_or_bad_input(lambda: Motion(rot, trans, fps).validate("x.npz"))
    if m is not None:
        assert np.all(np.isfinite(m.rotations)) and np.all(np.isfinite(m.joints()))
        assert m.axis_angle().shape == (len(rot), 72)


@settings(max_examples=150, deadline=None)
@given(poses=_any_array, trans=_any_array, fps=_fps)
def test_from_axis_angle_any_arrays_is_clean_or_bad_input(poses, trans, fps):
    m = _clean_or_bad_input(lambda: Motion.from_axis_angle(poses, trans, fps).validate("x.npz"))
    if m is not None:
        assert m.axis_angle().shape == (m.num_frames, 72)


@settings(max_examples=60, deadline=None)
@given(poses=st.integers(1, 5).flatmap(lambda t: hnp.arrays(np.float64, (t, 72), elements=st.floats(-50, 50))))
def test_axis_angle_round_trip(poses):
    """Any finite axis-angle survives Motion -> quaternions -> axis-angle (same rotation)."""
    from refine_core.rotations import axis_angle_to_quat, quat_angle_between

    m = Motion.from_axis_angle(poses, np.zeros((len(poses), 3)), 30.0).validate("x.npz")
    m.meta.pop("source_axis_angle")  # force the real conversion, not the bit-for-bit shortcut
    back = axis_angle_to_quat(m.axis_angle().reshape(-1, 24, 3))
    assert np.max(quat_angle_between(back, m.rotations)) < 1e-6


# ------------------------------------------- issue 20: outputs and arguments
def test_refused_outputs_leave_what_was_there(results):
    """A symbolic link is neither replaced nor followed: its target (or the missing
    target of a dangling link) is untouched; a FIFO or device stays one."""
    import stat

    _, r = results["output_symlink_to_file"]
    assert r.output.is_symlink() and (r.output.parent / "target.npz").read_bytes() == b"the user's file, not to be touched"
    _, r = results["output_dangling_symlink"]
    assert r.output.is_symlink() and not (r.output.parent / "target.npz").exists()
    assert stat.S_ISFIFO(results["output_fifo"][1].output.lstat().st_mode)
    assert not stat.S_ISREG(results["output_character_device"][1].output.lstat().st_mode)
    _, r = results["output_new_folder_trailing_slash"]
    assert not (r.input.parent / "newdir").exists()


def test_npz_member_paths_are_renamed_with_a_warning(results):
    import zipfile

    _, r = results["npz_member_names_are_paths"]
    names = zipfile.ZipFile(r.output).namelist()
    assert not [n for n in names if "/" in n or "\\" in n or ":" in n], names
    assert {".._.._x.npy", "_abs_y.npy", "c__z.npy"} <= set(names)
    warnings = r.stderr.strip().splitlines()
    assert len(warnings) == 3 and all(w.startswith(f"warning: {r.output}: extra key") for w in warnings)
    assert "'../../x' written as '.._.._x'" in r.stderr
    np.testing.assert_array_equal(read_motion(r.output).meta["extras"][".._.._x"], np.arange(3.0))


def test_fps_argument_is_used_and_written(results):
    _, r = results["fps_arg_60_on_file_without_fps"]
    assert describe(r.input)["fps"] == 30.0  # the file has no rate
    with np.load(r.output) as out:
        assert float(out["mocap_framerate"]) == 60.0
    assert describe(r.output)["fps_assumed"] is False


def test_method_failure_is_not_blamed_on_the_file(results):
    for name in ("method_result_not_finite_butterworth", "method_result_not_finite_gaussian"):
        case, r = results[name]
        assert r.message.startswith("internal error:") and "RuntimeWarning" not in r.stderr
        assert "nothing was written" in r.message and not r.output_written
