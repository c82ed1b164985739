"""The command line end to end on real files: refine with range and blend, info, eval, exit codes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from refine_core import BadInputError
from refine_core.formats import read_motion, write_npz
from refine_core.metrics import accel
from refine_core.rotations import axis_angle_to_quat, matrix_to_quat, quat_angle_between, quat_to_matrix
from refine_core.synthetic import walking_motion

ROOT = Path(__file__).resolve().parents[1]
CLASSICAL = ["butterworth", "gaussian", "oneeuro", "savgol", "slerp"]


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "refine_core", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def jittered(motion, seed=0, deg=3.0, cm=1.0):
    """White rotation jitter and root jitter: a cheap stand-in for estimator noise."""
    rng = np.random.default_rng(seed)
    jitter = axis_angle_to_quat(rng.normal(0, np.radians(deg), motion.rotations.shape[:-1] + (3,)))
    rot = matrix_to_quat(quat_to_matrix(motion.rotations) @ quat_to_matrix(jitter))
    return motion.replace(rotations=rot, trans=motion.trans + rng.normal(0, cm / 100, motion.trans.shape), meta={})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    clean = walking_motion(200, seed=1)
    write_npz(clean, d / "gt.npz")
    write_npz(jittered(clean), d / "ex.npz")
    return d


def test_refine_range_keeps_outside_bit_identical_and_smooths_inside(files):
    out = files / "out.npz"
    r = run_cli("refine", files / "ex.npz", "-o", out, "--method", "butterworth", "--start", 20, "--end", 120, "--blend", 5)
    assert r.returncode == 0, r.stderr
    with np.load(files / "ex.npz") as a, np.load(out) as b:
        outside = np.r_[0:20, 121:200]
        assert np.array_equal(a["poses"][outside], b["poses"][outside])
        assert np.array_equal(a["trans"][outside], b["trans"][outside])
        assert not np.array_equal(a["poses"][20:121], b["poses"][20:121])
        assert float(b["mocap_framerate"]) == float(a["mocap_framerate"])
    before, after = read_motion(files / "ex.npz"), read_motion(out)
    assert accel(after.joints()[20:121]) < 0.5 * accel(before.joints()[20:121])


def test_eval_json_and_every_classical_filter_lowers_accel_error(files):
    r = run_cli("eval", files / "ex.npz", files / "gt.npz", "--json")
    assert r.returncode == 0, r.stderr
    noisy = json.loads(r.stdout)
    assert set(noisy) >= {"mpjpe", "pa_mpjpe", "accel_error", "accel", "jitter"}
    for method in CLASSICAL:
        out = files / f"{method}.npz"
        assert run_cli("refine", files / "ex.npz", "-o", out, "--method", method).returncode == 0
        refined = json.loads(run_cli("eval", out, files / "gt.npz", "--json").stdout)
        assert refined["accel_error"] < noisy["accel_error"], method


def test_info_describes_the_file(files):
    r = run_cli("info", files / "ex.npz", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["frames"] == 200 and float(info["fps"]) == 30.0


@pytest.mark.parametrize("args, needle", [
    (["--method", "nonsense"], "unknown method"),
    (["--method", "butterworth", "--start", 150, "--end", 400], "outside the motion"),
    (["--method", "butterworth", "--start", 50, "--end", 10], "frame range 50..10 is reversed"),
    (["--method", "butterworth", "--fps", 1e10], "--fps 1e+10: frame rate 1e+10 fps is above the 1000 fps"),
    (["--method", "butterworth", "--fps", 0], "--fps 0: frame rate must be a positive number"),
    (["--method", "gaussian", "--param", "sigma_frames=1e6"], "gaussian: sigma_frames must be a number from 0.01 to 100"),
    (["--method", "hpr", "--param", "batch=-1"], "hpr: batch must be an integer from 1 to 1000000"),
    (["--method", "butterworth", "--param", "cutof_hz=3"], "butterworth has no parameter 'cutof_hz'"),
    (["--method", "butterworth", "--param", "cutoff_hz"], "key=value"),
])
def test_bad_arguments_exit_2_with_one_line_and_no_output(files, args, needle):
    out = files / "never.npz"
    r = run_cli("refine", files / "ex.npz", "-o", out, *args)
    assert r.returncode == 2
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_weights_are_said_clearly(files, tmp_path):
    """A learned method whose weights file is absent is refused with exit 2 and a clear line."""
    from dataclasses import replace

    from refine_core.refiners import METHODS

    absent = replace(METHODS["hpr"], name="not_trained")  # a learned method with no weights file
    with pytest.raises(BadInputError, match="no trained weights yet"):
        absent.load()
    r = run_cli("refine", files / "ex.npz", "-o", tmp_path / "x.npz", "--method", "list")
    assert r.returncode == 0 and "hpr" in r.stdout


def test_refusing_to_overwrite_the_input(files, tmp_path):
    src = tmp_path / "in.npz"
    src.write_bytes((files / "ex.npz").read_bytes())
    r = run_cli("refine", src, "-o", src, "--method", "gaussian")
    assert r.returncode == 2 and "overwrite" in r.stderr
    assert src.read_bytes() == (files / "ex.npz").read_bytes()


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    import pickle

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "vibe_output.pkl"
    bad.write_bytes(pickle.dumps({"pose": Payload()}))
    r = run_cli("refine", bad, "-o", tmp_path / "o.npz", "--method", "gaussian")
    assert r.returncode == 2 and "vibe_output.pkl" in r.stderr
    assert not marker.exists() and not (tmp_path / "o.npz").exists()


def test_one_frame_range_fixes_a_spike_and_changes_that_row_only(tmp_path):
    """`refine --start F --end F`: the most common cleanup, one bad frame."""
    from scipy.spatial.transform import Rotation

    clean = walking_motion(200, seed=4)
    spiked = clean.replace(rotations=clean.rotations.copy())
    spiked.rotations[90, 5] = (Rotation.from_quat(clean.rotations[90, 5]) * Rotation.from_rotvec([0.0, 0.0, 0.8])).as_quat()
    write_npz(spiked, tmp_path / "spiked.npz")
    r = run_cli("refine", tmp_path / "spiked.npz", "-o", tmp_path / "out.npz", "--method", "hpr", "--start", 90, "--end", 90)
    assert r.returncode == 0, r.stderr
    before, after = read_motion(tmp_path / "spiked.npz"), read_motion(tmp_path / "out.npz")
    rows = np.flatnonzero(~np.all(np.isclose(after.rotations, before.rotations, atol=0, rtol=0), axis=(1, 2)))
    assert list(rows) == [90]
    err_before = quat_angle_between(before.rotations[90, 5], clean.rotations[90, 5])
    err_after = quat_angle_between(after.rotations[90, 5], clean.rotations[90, 5])
    assert err_after < 0.5 * err_before
