"""Headless batch (addon/batch.py, docs/batch.md): real files, real bpy.

The batch runs as users run it, ``python addon/batch.py -- ...`` in a
subprocess (bpy as a module stands in for ``blender -b --python``); the
panel-operator comparison runs the operators in this process's bpy.
"""
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[1]
PY42 = ROOT / ".venv-bpy42" / "bin" / "python"
FRAMES, FPS = 120, 30.0
SETTINGS = ["--method", "butterworth", "--start", "10", "--end", "100", "--blend", "5", "--strength", "0.8"]
GOOD = ["walk0.npz", "walk1.npz", "sub/walk0.npz", "quats.npy", "vibe_output.pkl"]
BAD = ["corrupt.npz", "shape.npy"]


def run_batch(*args, python=sys.executable, timeout=300):
    return subprocess.run([str(python), "addon/batch.py", "--", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def noisy_walk(seed):
    """A synthetic walk with estimator-like jitter, as a Motion."""
    from refine_core.synthetic import jittered_walk

    return jittered_walk(FRAMES, FPS, seed)


def make_inputs(folder: Path) -> Path:
    """5 good files (interchange .npz twice plus one in a subfolder with a
    shared stem, a plain quaternion .npy, a VIBE joblib pickle) and 2 bad
    ones (a truncated .npz, a wrong-shape array)."""
    from format_samples import make_vibe_pkl
    from refine_core.formats import write_npz

    (folder / "sub").mkdir(parents=True)
    for i, name in enumerate(["walk0.npz", "walk1.npz", "sub/walk0.npz"]):
        write_npz(noisy_walk(i), folder / name)
    np.save(folder / "quats.npy", noisy_walk(3).rotations)  # plain (T, 24, 4) array
    make_vibe_pkl(folder, frames=FRAMES)
    good = (folder / "walk0.npz").read_bytes()
    (folder / "corrupt.npz").write_bytes(good[: len(good) // 2])
    np.save(folder / "shape.npy", np.zeros((FRAMES, 7)))
    (folder / "notes.txt").write_text("not a motion file: ignored")
    return folder


def digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def npz_arrays(path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory):
    """One batch over the folder (jobs 1, report, plots): (inputs, out, result)."""
    base = tmp_path_factory.mktemp("batch")
    inputs = make_inputs(base / "in")
    before = digest(inputs)
    out = base / "out"
    result = run_batch(inputs, "--out", out, *SETTINGS, "--report", out / "report.json", "--plots")
    assert digest(inputs) == before, "the batch changed an input"
    return inputs, out, result


# ---------------------------------------------------------------- the folder run
def test_five_good_two_bad(batch_run):
    inputs, out, result = batch_run
    assert result.returncode == 3, result.stderr[-3000:]
    # Every output under its final name, no temporary or partial file left.
    names = {"in_walk0", "in_sub_walk0", "walk1", "quats", "vibe_output"}  # a shared stem gets its folder
    expected = {f"{n}_refined.npz" for n in names} | {f"{n}_accel.png" for n in names} | {"report.json"}
    assert {p.name for p in out.iterdir()} == expected
    report = json.loads((out / "report.json").read_text())
    rows = {Path(r["input"]).relative_to(inputs).as_posix(): r for r in report["files"]}
    assert set(rows) == set(GOOD) | set(BAD)
    for name in GOOD:
        row = rows[name]
        assert row["status"] == "ok" and row["error"] is None, row
        refined = npz_arrays(row["output"])
        assert refined["poses"].shape == (FRAMES, 72)
        m = row["metrics"]
        assert (m["frame_start"], m["frame_end"]) == (11, 101)  # rows 10..100 at scene frames from 1
        assert m["accel_mean_after"] < m["accel_mean_before"]
        assert Path(row["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name, reason in [("corrupt.npz", "corrupt"), ("shape.npy", "(120, 7)")]:
        row = rows[name]
        assert row["status"] == "failed" and row["output"] is None and row["metrics"] is None
        assert str(inputs / name) in row["error"] and reason in row["error"], row["error"]
        assert "\n" not in row["error"]
    assert report["summary"]["total"] == 7 and report["summary"]["ok"] == 5 and report["summary"]["failed"] == 2
    progress = [line for line in result.stderr.splitlines() if line.startswith("[") and "ETA" in line]
    assert len(progress) == 7 and progress[-1].startswith("[7/7]")
    assert "7 files: 5 ok, 2 failed" in result.stdout


def test_rows_outside_the_range_fail_that_file(tmp_path):
    """Rows are 0-based rows of each file, as in the CLI: a file too short
    for --end fails with the reason; the others go on."""
    from refine_core.formats import write_npz

    write_npz(noisy_walk(0), tmp_path / "long.npz")
    write_npz(noisy_walk(1).slice(0, 50), tmp_path / "short.npz")
    result = run_batch(tmp_path / "long.npz", tmp_path / "short.npz", "--out", tmp_path / "out",
                       "--method", "gaussian", "--start", "20", "--end", "80")
    assert result.returncode == 3, result.stderr[-3000:]
    assert "short.npz: frame range 20..80 is outside the motion's frames 0..49" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["long_refined.npz"]


# ---------------------------------------------------------------- same as the button
@pytest.fixture
def blender():
    """A factory-fresh Blender with the add-on registered (as tests/addon)."""
    spec = importlib.util.spec_from_file_location("_mr_bootstrap", ROOT / "addon" / "_bootstrap.py")
    bootstrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bootstrap)
    pkg = bootstrap.load_package(ROOT)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if hasattr(bpy.types.Scene, "motion_refine"):
        pkg.unregister()
    pkg.register()
    pkg.addon.prefs.ensure_addon_entry(bpy.context)
    yield pkg
    bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.mark.parametrize("name,output", [("walk1.npz", "walk1_refined.npz"),
                                         ("vibe_output.pkl", "vibe_output_refined.npz")])
def test_batch_file_equals_panel_operator(batch_run, blender, tmp_path, name, output):
    """Import, Refine Motion (rows 10..100 = scene frames 11..101), Export:
    the very file the batch wrote, every key bit for bit."""
    inputs, out, _ = batch_run
    assert bpy.ops.motion_refine.import_smpl(filepath=str(inputs / name)) == {"FINISHED"}
    assert bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, method="butterworth", frame_start=11, frame_end=101,
                                        blend_frames=5, strength=0.8) == {"FINISHED"}
    panel_file = tmp_path / "panel.npz"
    assert bpy.ops.motion_refine.export_smpl(filepath=str(panel_file)) == {"FINISHED"}
    panel, batch = npz_arrays(panel_file), npz_arrays(out / output)
    assert sorted(panel) == sorted(batch)
    for key in panel:
        assert panel[key].dtype == batch[key].dtype and np.array_equal(panel[key], batch[key]), key
    source = npz_arrays(inputs / "walk1.npz") if name == "walk1.npz" else None
    if source is not None:  # the batch did refine: rows inside the range moved
        assert not np.allclose(batch["poses"][20:90], source["poses"][20:90], atol=1e-4)


# ---------------------------------------------------------------- parallel
def test_jobs_2_same_outputs(batch_run, tmp_path):
    inputs, out1, _ = batch_run
    out2 = tmp_path / "out"
    result = run_batch(inputs, "--out", out2, *SETTINGS, "--jobs", "2", "--report", tmp_path / "report.json")
    assert result.returncode == 3, result.stderr[-3000:]
    refined = sorted(p.name for p in out1.glob("*_refined.npz"))
    assert sorted(p.name for p in out2.iterdir()) == refined
    for name in refined:
        a, b = npz_arrays(out1 / name), npz_arrays(out2 / name)
        assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a), name
    rows1 = json.loads((out1 / "report.json").read_text())["files"]
    rows2 = json.loads((tmp_path / "report.json").read_text())
    assert [(r["input"], r["status"], r["error"]) for r in rows1] == \
        [(r["input"], r["status"], r["error"]) for r in rows2["files"]]
    assert rows2["summary"]["jobs"] == 2
    assert len([line for line in result.stderr.splitlines() if "ETA" in line]) == 7


# ---------------------------------------------------------------- arguments and outputs
@pytest.mark.parametrize("args,message", [
    (["missing.npz", "--out", "{tmp}/out", "--method", "gaussian"], "missing.npz: no such file or folder"),
    (["{walk}", "--out", "{tmp}/out", "--method", "nosuch"], "unknown method"),
    (["{walk}", "--method", "gaussian"], "the following arguments are required: --out"),
])
def test_bad_arguments_exit_2(tmp_path, args, message):
    from refine_core.formats import write_npz

    walk = tmp_path / "walk.npz"
    write_npz(noisy_walk(0), walk)
    result = run_batch(*[a.format(tmp=tmp_path, walk=walk) for a in args])
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_read_only_out_folder(tmp_path):
    from refine_core.formats import write_npz

    write_npz(noisy_walk(0), tmp_path / "walk.npz")
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    immutable = False
    if os.access(out, os.W_OK):  # root ignores the mode bits: make the folder immutable instead
        immutable = subprocess.run(["chattr", "+i", str(out)], capture_output=True).returncode == 0
        if not immutable:
            out.chmod(0o755)
            pytest.skip("cannot make a read-only folder here (root without chattr)")
    try:
        result = run_batch(tmp_path / "walk.npz", "--out", out, "--method", "gaussian")
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(out)], check=True)
        out.chmod(0o755)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"{out}: cannot write to the output folder" in errors[0], result.stderr[-2000:]
    assert list(out.iterdir()) == []


def test_never_overwrites_an_input(tmp_path):
    """--out is the input folder and holds a previous output: walk's output
    would be that input, so walk fails; the input stays as it was."""
    from refine_core.formats import write_npz

    write_npz(noisy_walk(0), tmp_path / "walk.npz")
    write_npz(noisy_walk(1), tmp_path / "walk_refined.npz")
    before = digest(tmp_path)
    result = run_batch(tmp_path, "--out", tmp_path, "--method", "gaussian", "--report", tmp_path / "report.json")
    assert result.returncode == 3, result.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    status = {Path(r["input"]).name: (r["status"], r["error"]) for r in report["files"]}
    assert status["walk.npz"][0] == "failed" and "would overwrite an input file" in status["walk.npz"][1]
    assert status["walk_refined.npz"] == ("ok", None)
    after = digest(tmp_path)
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) == {"walk_refined_refined.npz", "report.json"}


# ---------------------------------------------------------------- blender -c motion_refine
def test_cli_command_registered_and_runs(blender, tmp_path):
    """register() adds the ``motion_refine`` command (bpy 5.0); its function
    runs the batch in this Blender with the add-on as registered."""
    from refine_core.formats import write_npz

    batch = blender.addon.batch
    assert hasattr(bpy.utils, "register_cli_command") and batch._cli_handle is not None
    write_npz(noisy_walk(0), tmp_path / "walk.npz")
    code = batch.cli_main(["--", str(tmp_path / "walk.npz"), "--out", str(tmp_path / "out"), "--method", "gaussian",
                           "--report", str(tmp_path / "report.json")])
    assert code == 0
    assert npz_arrays(tmp_path / "out" / "walk_refined.npz")["poses"].shape == (FRAMES, 72)
    assert hasattr(bpy.types.Scene, "motion_refine"), "the batch must leave the installed add-on registered"
    assert batch.cli_main(["--out", str(tmp_path / "out")]) == 2
    blender.unregister()
    assert batch._cli_handle is None
    blender.register()


@pytest.mark.skipif(not PY42.exists(), reason=".venv-bpy42 missing: run ./setup.sh")
def test_batch_on_blender_42(tmp_path):
    from refine_core.formats import write_npz

    write_npz(noisy_walk(0), tmp_path / "walk.npz")
    result = run_batch(tmp_path / "walk.npz", "--out", tmp_path / "out", "--method", "gaussian", python=PY42)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / "walk_refined.npz").is_file()


# ---------------------------------------------------------------- the core batch equals the panel
def max_angle(a, b) -> float:
    """Largest rotation (rad) between two (T, 72) axis-angle pose arrays, joint by joint."""
    from scipy.spatial.transform import Rotation

    return float((Rotation.from_rotvec(a.reshape(-1, 3)).inv() * Rotation.from_rotvec(b.reshape(-1, 3))).magnitude().max())


@pytest.mark.parametrize("method,keys_tolerance", [("butterworth", 1e-6), ("hpr", 1e-5)])
def test_core_batch_equals_panel_export(blender, tmp_path, method, keys_tolerance):
    """``python -m refine_core batch`` (no Blender) writes what the panel's
    import, Refine Motion and export write. Refining the keys Blender holds
    (the import exported unrefined), every frame: equal to 1e-6 rad. Refining
    the original file: Blender's float32 keys differ from it by ~1e-7 rad,
    which a linear filter keeps under 1e-6 and hpr's attention amplifies to
    ~1.5e-6 (measured), hence 1e-5 there."""
    from refine_core import cli
    from refine_core.formats import write_npz

    write_npz(noisy_walk(5), tmp_path / "walk.npz")
    assert bpy.ops.motion_refine.import_smpl(filepath=str(tmp_path / "walk.npz")) == {"FINISHED"}
    assert bpy.ops.motion_refine.export_smpl(filepath=str(tmp_path / "keys.npz")) == {"FINISHED"}
    assert bpy.ops.motion_refine.refine("EXEC_DEFAULT", True, method=method, range_mode="SCENE", blend_frames=0,
                                        strength=1.0) == {"FINISHED"}
    assert bpy.ops.motion_refine.export_smpl(filepath=str(tmp_path / "panel.npz")) == {"FINISHED"}
    assert cli.main(["batch", str(tmp_path / "walk.npz"), str(tmp_path / "keys.npz"), "--out", str(tmp_path / "out"),
                     "--method", method, "--quiet"]) == 0
    panel = npz_arrays(tmp_path / "panel.npz")
    for name, tolerance in (("keys", 1e-6), ("walk", keys_tolerance)):
        core = npz_arrays(tmp_path / "out" / f"{name}_refined.npz")
        assert core["poses"].shape == panel["poses"].shape == (FRAMES, 72)
        assert max_angle(core["poses"], panel["poses"]) < tolerance, (name, max_angle(core["poses"], panel["poses"]))
        assert np.allclose(core["trans"], panel["trans"], atol=1e-6)
    assert max_angle(npz_arrays(tmp_path / "walk.npz")["poses"], panel["poses"]) > 1e-3  # it did refine


def test_jobs_2_names_cannot_forge_rows(tmp_path):
    """A file named like the old stdout row protocol, --jobs 2 --save-blend:
    every file done (rows come over each worker's own pipe), no temporary
    file or worker left behind."""
    from refine_core.formats import write_npz

    forged = tmp_path / 'x@@motion_refine_row {"input": "y", "status": "ok"}.npz'
    write_npz(noisy_walk(0), forged)
    write_npz(noisy_walk(1), tmp_path / "walk.npz")
    out = tmp_path / "out"
    result = run_batch(forged, tmp_path / "walk.npz", "--out", out, "--method", "gaussian", "--jobs", "2",
                       "--save-blend", "--report", tmp_path / "report.json", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((tmp_path / "report.json").read_text())["files"]
    assert [(r["input"], r["status"]) for r in rows] == [(str(forged), "ok"), (str(tmp_path / "walk.npz"), "ok")]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{forged.stem}_refined.npz", f"{forged.stem}_refined.blend", "walk_refined.npz", "walk_refined.blend"])


def test_feet_lock_in_the_blender_batch(tmp_path):
    """--feet lock and --feet-param reach the panel's Lock Feet: the output differs
    from the unlocked one and the report carries the foot sliding before -> after."""
    from refine_core import Motion
    from refine_core.formats import read_motion, write_npz

    # Standing still (toes on the floor) with an estimator's jittery root: planted feet that slide.
    rng = np.random.default_rng(0)
    still = Motion.from_axis_angle(np.zeros((FRAMES, 72)), np.zeros((FRAMES, 3)), FPS, meta={"up_axis": "Y"})
    trans = rng.normal(0, 0.006, (FRAMES, 3)) * [1, 0.3, 1]
    trans[:, 1] -= still.joints()[:, [10, 11], 1].min()
    src = tmp_path / "walk.npz"
    write_npz(still.replace(trans=trans), src)
    outs = {}
    for mode in ("off", "lock"):
        out = tmp_path / mode
        result = run_batch(src, "--out", out, "--method", "butterworth", "--feet", mode,
                           "--feet-param", "recovery_frames=2", "--report", out / "report.json")
        assert result.returncode == 0, result.stderr[-2000:]
        outs[mode] = read_motion(out / "walk_refined.npz")
        metrics = json.loads((out / "report.json").read_text())["files"][0]["metrics"]
        assert metrics["feet_locked"] == (mode == "lock")
    assert not np.allclose(outs["off"].trans, outs["lock"].trans)
    assert metrics["foot_sliding_after"] < metrics["foot_sliding_before"]
