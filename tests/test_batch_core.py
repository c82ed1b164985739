"""The core batch (refine_core/batch.py): local worker processes and Ray.

Real files, the real hpr model, a real Ray cluster started here on
127.0.0.1 (2 CPUs, no dashboard, a small object store), shared by the
module; the batch runs as users run it, ``python -m refine_core batch`` in
a subprocess, or through ``cli.main`` in this process for the reference.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from refine_core import cli
from refine_core.batch import ArgumentError, Staging, find_inputs
from refine_core.formats import write_npz

ROOT = Path(__file__).resolve().parents[1]
FRAMES, FPS = 120, 30.0
GOOD = [f"walk{i:02d}.npz" for i in range(18)]
BAD = {"corrupt.npz": "corrupt", "shape.npy": "(120, 7)"}


def noisy_walk(seed):
    """A synthetic walk with estimator-like jitter, as a Motion."""
    from refine_core.synthetic import jittered_walk

    return jittered_walk(FRAMES, FPS, seed)


def batch_command(*args):
    return [sys.executable, "-m", "refine_core", "batch", *map(str, args)]


def run_batch(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(batch_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def npz_arrays(path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def same_files(a: Path, b: Path) -> bool:
    x, y = npz_arrays(a), npz_arrays(b)
    return sorted(x) == sorted(y) and all(x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k]) for k in x)


def hidden(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """18 short noisy walks and 2 bad files (a truncated .npz, a wrong-shape array)."""
    folder = tmp_path_factory.mktemp("inputs")
    for i, name in enumerate(GOOD):
        write_npz(noisy_walk(i), folder / name)
    good = (folder / GOOD[0]).read_bytes()
    (folder / "corrupt.npz").write_bytes(good[: len(good) // 2])
    np.save(folder / "shape.npy", np.zeros((FRAMES, 7)))
    return folder


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory) -> Path:
    """``--jobs 1`` in this process: the outputs every other run must equal."""
    out = tmp_path_factory.mktemp("reference")
    assert cli.main(["batch", str(inputs), "--out", str(out), "--method", "hpr", "--quiet"]) == 3
    assert sorted(p.name for p in out.iterdir()) == sorted(n.replace(".npz", "_refined.npz") for n in GOOD)
    return out


@pytest.fixture(scope="module")
def ray_address():
    """A Ray cluster on 127.0.0.1 for this module; the batch joins it by address."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on the loopback address (read at import)
    ray = pytest.importorskip("ray")
    context = ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024 * 1024,
                       logging_level="WARNING", log_to_driver=False)
    address = context.address_info["gcs_address"]
    try:
        assert address.startswith("127.0.0.1:"), address
        yield address
    finally:
        ray.shutdown()


def check_outputs(out: Path, reference: Path):
    """Exactly the 18 reference outputs, equal array for array, no temporary file."""
    assert hidden(out) == []
    names = sorted(p.name for p in out.glob("*_refined.npz"))
    assert names == sorted(p.name for p in reference.iterdir())
    for name in names:
        assert same_files(out / name, reference / name), name


def check_rows(report: dict, inputs: Path):
    rows = {Path(r["input"]).name: r for r in report["files"]}
    assert len(report["files"]) == len(rows) == 20  # every input once
    for name in GOOD:
        assert rows[name]["status"] == "ok" and rows[name]["error"] is None, rows[name]
    for name, reason in BAD.items():
        row = rows[name]
        assert row["status"] == "failed" and row["output"] is None
        assert str(inputs / name) in row["error"] and reason in row["error"] and "\n" not in row["error"], row["error"]
    return rows


# ---------------------------------------------------------------- Ray
def test_ray_twenty_files_two_bad(inputs, reference, ray_address, tmp_path):
    out = tmp_path / "out"
    result = run_batch(inputs, "--out", out, "--method", "hpr", "--ray", ray_address, "--report", tmp_path / "r.json")
    assert result.returncode == 3, result.stderr[-3000:]
    check_outputs(out, reference)
    report = json.loads((tmp_path / "r.json").read_text())
    rows = check_rows(report, inputs)
    s = report["summary"]
    assert (s["ok"], s["failed"], s["skipped"]) == (18, 2, 0)
    # Two workers (2 CPUs, one thread each), the model loaded once by each that refined
    # a file (one of them may have been handed only the two bad files, which fail first).
    refiners = {r["worker"] for r in rows.values() if r["status"] == "ok"}
    assert s["ray_workers"] == 2 and s["workers"] == 2 and s["model_loads"] == len(refiners) >= 1, s
    assert {r["model_loads"] for r in rows.values() if r["status"] == "ok"} == {1}
    assert "20 files: 18 ok, 2 failed" in result.stdout and f"{len(refiners)} model loads" in result.stdout


def actor_pids(title=b"ray::BatchWorker") -> list:
    """Processes of the batch's Ray actors in this module's cluster (its
    raylet is our child; other runs on the machine may have their own): Ray
    titles them after the class, and after the method while one runs
    (``ray::BatchWorker.run``)."""
    parents, titles = {}, {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit():
                stat = (proc / "stat").read_text()
                parents[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
                titles[int(proc.name)] = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            pass

    def ours(pid):
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return [pid for pid, cmd in titles.items() if title in cmd and ours(pid)]


def wait_for(condition, timeout=180.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_ray_worker_killed_mid_run(inputs, reference, ray_address, tmp_path):
    """SIGKILL one actor after the first files: its file is retried on a new
    worker, every good file ends done once, outputs as with --jobs 1."""
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(batch_command(inputs, "--out", out, "--method", "hpr", "--ray", ray_address,
                                          "--report", tmp_path / "r.json"),
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: out.is_dir() and len(list(out.glob("*_refined.npz"))) >= 2)
        busy = []  # one that is refining a file now (kept: asking again may find it between files)
        wait_for(lambda: busy.extend(actor_pids(b"ray::BatchWorker.run")) or busy, timeout=30)
        os.kill(busy[0], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 3, stderr[-3000:]
    check_outputs(out, reference)
    report = json.loads((tmp_path / "r.json").read_text())
    rows = check_rows(report, inputs)
    s = report["summary"]
    assert s["ok"] == 18 and s["ray_workers"] == 3, s  # the dead worker was replaced once
    assert sorted(r["attempts"] for r in rows.values()) == [1] * 19 + [2]  # one file retried, none done twice
    refiners = {r["worker"] for r in rows.values() if r["status"] == "ok"}
    assert s["model_loads"] == len(refiners) and {rows[n]["model_loads"] for n in GOOD} == {1}  # once per worker


def test_resume_after_sigterm(inputs, reference, ray_address, tmp_path):
    """--jobs 2 stopped by SIGTERM part-way: no temporary file, no worker or
    temporary folder left; --resume (on Ray) then skips exactly the files that
    were finished, leaves them untouched, and does the rest."""
    out, own_tmp = tmp_path / "out", tmp_path / "tmp"
    own_tmp.mkdir()  # the batch's own temporary folder: other runs on this machine share /tmp
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(own_tmp))
    proc = subprocess.Popen(batch_command(inputs, "--out", out, "--method", "hpr", "--jobs", "2"),
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: out.is_dir() and len(list(out.glob("*_refined.npz"))) >= 2)
        children = [int(c) for c in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1 and "interrupted" in stderr, stderr[-3000:]
    assert len(children) == 2
    for pid in children:  # the workers were stopped and reaped, not orphaned
        assert not Path(f"/proc/{pid}").exists() or b"refine_core" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert hidden(out) == []
    assert list(own_tmp.iterdir()) == []  # the workers' log folder went with them
    finished = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*_refined.npz")}
    assert 2 <= len(finished) < 18
    damaged = sorted(finished)[0]  # an output that is not an interchange file is redone
    np.save(out / damaged, np.zeros(3))
    (out / (damaged + ".npy")).replace(out / damaged)
    del finished[damaged]

    result = run_batch(inputs, "--out", out, "--method", "hpr", "--resume", "--ray", ray_address,
                       "--report", tmp_path / "r.json")
    assert result.returncode == 3, result.stderr[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    skipped = {Path(r["output"]).name for r in report["files"] if r["status"] == "skipped"}
    assert skipped == set(finished)
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*_refined.npz")
            if p.name in finished} == finished  # not rewritten
    s = report["summary"]
    assert (s["ok"], s["skipped"], s["failed"]) == (18 - len(finished), len(finished), 2)
    check_outputs(out, reference)
    assert [r["status"] for r in report["files"] if Path(r["input"]).name == damaged.replace("_refined", "")] == ["ok"]


# ---------------------------------------------------------------- checks before any work
def test_report_path_checked_before_work(inputs, tmp_path, capsys):
    """The report may not be an output, an input or a folder, and its folder
    must exist: one line, exit 2, nothing written (not even the outputs)."""
    out = tmp_path / "out"
    walk = inputs / GOOD[0]
    cases = [(out / "walk00_refined.npz", "the report would overwrite the output"),
             (walk, "the report would overwrite the input file"),
             (tmp_path, "the report path is a folder"),
             (tmp_path / "missing" / "r.json", "the report's folder does not exist")]
    for report, message in cases:
        assert cli.main(["batch", str(walk), "--out", str(out), "--method", "gaussian", "--report", str(report)]) == 2
        captured = capsys.readouterr()
        errors = captured.err.strip().splitlines()
        assert len(errors) == 1 and message in errors[0] and captured.out == "", captured
        assert not out.exists() or list(out.iterdir()) == []


def test_bad_options_exit_2(inputs, tmp_path, capsys):
    """The core's own checks, before the first file."""
    walk = str(inputs / GOOD[0])
    for args, message in [(["--strength", "2"], "strength 2.0: strength must be"),
                          (["--blend", "-1"], "--blend -1: blend must be"),
                          (["--param", "nosuch=1"], "gaussian has no parameter 'nosuch'"),
                          (["--jobs", "0"], "--jobs 0: must be 1 or more"),
                          (["--param", "x"], "expected key=value")]:
        assert cli.main(["batch", walk, "--out", str(tmp_path / "out"), "--method", "gaussian", *args]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- outputs all or none
def test_staging_commits_all_or_none(tmp_path):
    """A rename that fails in the middle of a commit puts back what it had
    replaced and leaves no temporary file."""
    (tmp_path / "a.npz").write_bytes(b"old a")
    staging = Staging()
    with staging.writing(tmp_path / "a.npz") as tmp:
        tmp.write_bytes(b"new a")
    staging.add(tmp_path / "b.png")  # never written: its rename fails
    with pytest.raises(Exception, match="b.png: cannot write the file"):
        staging.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]
    assert (tmp_path / "a.npz").read_bytes() == b"old a"


def test_disk_full_names_the_output(tmp_path):
    """Out of space while writing: the row names the output, not the hidden temporary file."""
    out = tmp_path / "full"
    out.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(out)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        write_npz(noisy_walk(0), tmp_path / "walk.npz")
        result = run_batch(tmp_path / "walk.npz", "--out", out, "--method", "gaussian")
        listing = sorted(p.name for p in out.iterdir())
    finally:
        subprocess.run(["umount", str(out)], check=True)
    assert result.returncode == 3, result.stderr
    assert f"{out / 'walk_refined.npz'}: cannot write" in result.stderr and ".tmp" not in result.stderr, result.stderr
    assert listing == []


# ---------------------------------------------------------------- inputs
def test_symlinked_folders_followed_once(tmp_path):
    """A symlinked subfolder is searched; a link loop and a second link to
    the same folder are not searched again."""
    (tmp_path / "data" / "a").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    for path in (tmp_path / "data" / "a" / "x.npz", tmp_path / "elsewhere" / "y.npz"):
        path.write_bytes(b"")
    (tmp_path / "data" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "data" / "linked_again").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "data" / "a" / "loop").symlink_to(tmp_path / "data")
    found = [p.relative_to(tmp_path / "data").as_posix() for p, _ in find_inputs([tmp_path / "data"])]
    assert found == ["a/x.npz", "linked/y.npz"]
    with pytest.raises(ArgumentError, match="no such file or folder"):
        find_inputs([tmp_path / "nothing"])
