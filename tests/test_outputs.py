"""Outputs that are never half-written and never replace what they must not
(refine_core/atomic.py), and a CLI that stops cleanly: SIGTERM and SIGKILL
during a real write, a full file-size limit, a closed stdout, --fps.

Real processes and real files: the writer is ``python -m refine_core
refine`` on a long motion, signalled while its temporary file exists.
"""
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from refine_core.atomic import NAME_MAX, STALE_AFTER_S, atomic_write, check_destination, remove_stale_temps, temp_sibling
from refine_core.errors import BadInputError, InputWarning
from refine_core.formats import describe, read_motion, write_npz
from refine_core.synthetic import walking_motion

ROOT = Path(__file__).resolve().parents[1]
LONG = 50_000  # frames: a 30 MB output, a fraction of a second inside atomic_write


def cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "refine_core", *map(str, args)], cwd=ROOT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, **kwargs)


def temps(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith(".") and ".tmp" in p.name)


@pytest.fixture(scope="module")
def long_motion(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "long.npz"
    write_npz(walking_motion(LONG), path)
    return path


def _signal_mid_write(src, out, sig, tries=3):
    """Run the CLI on ``src`` and send ``sig`` while it writes ``out``; (exit code, stderr).

    The writer is stopped (SIGSTOP) as soon as its temporary file appears; if
    the temporary file is still there, the rename has not happened and ``sig``
    is sent (then SIGCONT). If the write finished before the stop took
    effect (a loaded machine), the run is repeated.
    """
    previous = out.read_bytes() if out.exists() else None
    for _ in range(tries):
        proc = cli("refine", src, "-o", out, "--method", "savgol", "--start", 0, "--end", 2,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while proc.poll() is None and not temps(out.parent):
            time.sleep(0.0005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGSTOP)
            if temps(out.parent):
                proc.send_signal(sig)
                proc.send_signal(signal.SIGCONT)
                _, stderr = proc.communicate()
                return proc.returncode, stderr
            proc.send_signal(signal.SIGCONT)
        proc.communicate()
        if previous is not None:  # the write completed: put the old output back for the next try
            out.write_bytes(previous)
    pytest.fail(f"the writer finished before it could be signalled, {tries} times")


# ------------------------------------------------------------ signals
def test_sigterm_during_the_write_stops_cleanly(long_motion, tmp_path):
    out = tmp_path / "out.npz"
    out.write_bytes(b"the previous output")
    code, stderr = _signal_mid_write(long_motion, out, signal.SIGTERM)
    assert code == 1
    assert stderr.strip().splitlines() == ["interrupted (signal SIGTERM); nothing was written"]
    assert temps(tmp_path) == []
    assert out.read_bytes() == b"the previous output"


def test_sigkill_leaves_a_temp_that_the_next_write_removes(long_motion, tmp_path):
    out = tmp_path / "out.npz"
    code, _ = _signal_mid_write(long_motion, out, signal.SIGKILL)
    assert code == -signal.SIGKILL
    left = temps(tmp_path)
    assert len(left) == 1 and not out.exists()  # what SIGKILL leaves: nothing can clean up
    small = tmp_path / "small.npz"
    write_npz(walking_motion(20), small)
    proc = cli("refine", small, "-o", out, "--method", "savgol", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, stderr = proc.communicate()
    assert proc.returncode == 0 and stderr == ""
    assert temps(tmp_path) == []  # the next write to the same output removed it
    assert read_motion(out).num_frames == 20


def test_a_full_file_size_limit_is_one_line_and_no_temp(tmp_path):
    """EFBIG (RLIMIT_FSIZE; Python ignores SIGXFSZ) stands in for a full disk."""
    src = tmp_path / "in.npz"
    write_npz(walking_motion(2000), src)
    out = tmp_path / "out.npz"
    limit = src.stat().st_size // 2
    proc = cli("refine", src, "-o", out, "--method", "savgol", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    _, stderr = proc.communicate()
    assert proc.returncode == 2
    assert stderr.strip().splitlines() == [f"error: {out}: cannot write the file (File too large)"]
    assert temps(tmp_path) == [] and not out.exists()


# ------------------------------------------------- stale temporary files
def _temps_by_another_process(finals, stay_alive):
    """Temporary siblings (both name styles) of each of ``finals``, created by
    another real process that then exits or, with ``stay_alive``, waits (a
    concurrent writer); ({(final, keep_suffix): path}, process)."""
    script = ("import sys; from refine_core.atomic import temp_sibling\n"
              "for final in sys.argv[1:]:\n"
              "    for keep in (False, True):\n"
              "        p = temp_sibling(final, keep_suffix=keep); p.write_bytes(b'x'); print(p, flush=True)\n"
              + ("sys.stdin.read()" if stay_alive else ""))
    proc = subprocess.Popen([sys.executable, "-c", script, *map(str, finals)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    paths = {(final, keep): Path(proc.stdout.readline().strip()) for final in finals for keep in (False, True)}
    if not stay_alive:
        proc.wait()
    return paths, proc


def test_only_dead_writers_temps_are_removed(tmp_path):
    final, other = tmp_path / "out.npz", tmp_path / "other.npz"
    dead, _ = _temps_by_another_process([final, other], stay_alive=False)
    live, writer = _temps_by_another_process([final], stay_alive=True)
    user_file = tmp_path / ".out.npz.notes.tmp"
    user_file.write_bytes(b"not ours")
    try:
        for keep in (False, True):
            mine = temp_sibling(final, keep)  # this process is alive: a concurrent write of ours
            mine.write_bytes(b"x")
            assert remove_stale_temps(final, keep) == [dead[final, keep]]
            assert live[final, keep].exists() and mine.exists() and dead[other, keep].exists()
            mine.unlink()
        assert user_file.exists()
    finally:
        writer.stdin.close()
        writer.wait()
    assert remove_stale_temps(final) == [live[final, False]]  # its writer has gone now


def test_another_machines_temp_goes_only_when_a_day_old(tmp_path):
    """A pid from another machine (a shared folder) cannot be checked: its file goes once a day old."""
    from refine_core.atomic import _HOST

    other = "ffff" if _HOST != "ffff" else "eeee"
    fresh, old = (tmp_path / f".out.npz.{other}-{pid}.0badcafe.tmp" for pid in (123, 456))
    for path in (fresh, old):
        path.write_bytes(b"x")
    past = time.time() - STALE_AFTER_S - 60
    os.utime(old, (past, past))
    assert remove_stale_temps(tmp_path / "out.npz") == [old]
    assert fresh.exists()


def test_atomic_write_cleans_up_after_any_exit(tmp_path):
    final = tmp_path / "out.bin"
    final.write_bytes(b"old")
    for exc in (ValueError("bad"), KeyboardInterrupt(), SystemExit(3)):
        with pytest.raises(type(exc)):
            with atomic_write(final) as f:
                f.write(b"half")
                raise exc
        assert final.read_bytes() == b"old" and temps(tmp_path) == []


# ---------------------------------------------------------- destinations
def _special_files(tmp_path):
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    link = tmp_path / "link.npz"
    link.symlink_to(tmp_path / "target.npz")
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    import socket

    sock_path = Path("/tmp") / f"mr_sock_{os.getpid()}.npz"  # AF_UNIX paths are limited to 108 bytes
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    sock.close()
    return {fifo: "named pipe (FIFO)", link: "symbolic link", folder: "is a folder", sock_path: "socket"}


def test_nothing_but_a_regular_file_is_replaced(tmp_path):
    specials = _special_files(tmp_path)
    try:
        for path, needle in specials.items():
            before = os.lstat(path)
            with pytest.raises(BadInputError, match=re.escape(needle)) as info:
                write_npz(walking_motion(5), path)
            assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)
            after = os.lstat(path)
            assert (before.st_ino, stat.S_IFMT(before.st_mode)) == (after.st_ino, stat.S_IFMT(after.st_mode))
        assert not (tmp_path / "target.npz").exists() and temps(tmp_path) == []
    finally:
        next(p for p, n in specials.items() if n == "socket").unlink()


def test_trailing_separator_and_long_names(tmp_path):
    with pytest.raises(BadInputError, match="ends with a path separator"):
        write_npz(walking_motion(5), f"{tmp_path}/newdir/")
    assert not (tmp_path / "newdir").exists()
    for name in ("a" * (NAME_MAX - 4) + ".npz", "é" * ((NAME_MAX - 4) // 2) + ".npz"):
        assert len(name.encode()) <= NAME_MAX
        for keep in (False, True):
            assert len(temp_sibling(tmp_path / name, keep).name.encode()) <= NAME_MAX
        write_npz(walking_motion(5), tmp_path / name)
        assert read_motion(tmp_path / name).num_frames == 5
    too_long = "a" * NAME_MAX + ".npz"
    with pytest.raises(BadInputError, match=f"{NAME_MAX + 4} bytes long"):
        check_destination(tmp_path / too_long)
    assert temps(tmp_path) == []


def test_extra_named_like_a_path_is_renamed_or_dropped(tmp_path):
    import zipfile

    motion = walking_motion(5)
    motion.meta["extras"] = {"../../x": np.arange(2), "a_b": np.ones(1), "a/b": np.zeros(1), "/etc/y": np.ones(2)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_npz(motion, tmp_path / "o.npz")
    names = set(zipfile.ZipFile(tmp_path / "o.npz").namelist())
    assert {".._.._x.npy", "a_b.npy", "_etc_y.npy"} <= names and not [n for n in names if "/" in n]
    messages = [str(w.message) for w in caught if w.category is InputWarning]
    assert len(messages) == 3 and any("'a/b' dropped" in m for m in messages)
    with np.load(tmp_path / "o.npz") as z:
        assert np.array_equal(z["a_b"], np.ones(1))  # the real a_b kept, not the renamed a/b


# ------------------------------------------------------------ stdout, --fps
def _closed_pipe():
    """A pipe's write end whose reader has gone, as ``| head -1`` leaves it."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


@pytest.mark.parametrize("command", [["info", "{src}", "--json"], ["info", "{src}"],
                                     ["refine", "{src}", "-o", "{out}", "--method", "savgol"]])
def test_closed_stdout_is_a_normal_end(tmp_path, command):
    src, out = tmp_path / "in.npz", tmp_path / "out.npz"
    write_npz(walking_motion(30), src)
    fd = _closed_pipe()
    try:
        proc = cli(*[part.format(src=src, out=out) for part in command], stdout=fd, stderr=subprocess.PIPE)
        _, stderr = proc.communicate()
    finally:
        os.close(fd)
    assert proc.returncode == 0 and stderr == ""
    assert out.exists() == (command[0] == "refine")


def test_fps_replaces_the_files_rate_and_is_written(tmp_path):
    from refine_core.refiners import refine

    src, out = tmp_path / "in.npz", tmp_path / "out.npz"
    write_npz(walking_motion(120), src)
    assert describe(src, fps=60)["fps"] == 60.0 and describe(src, fps=60)["fps_assumed"] is False
    proc = cli("refine", src, "-o", out, "--method", "butterworth", "--fps", 60, stderr=subprocess.PIPE)
    assert proc.wait() == 0, proc.stderr.read()
    at60, at30 = (refine(read_motion(src, fps=fps), "butterworth") for fps in (60, None))
    with np.load(out) as written:
        assert float(written["mocap_framerate"]) == 60.0
        np.testing.assert_allclose(written["poses"], at60.axis_angle(), atol=1e-9)
        assert not np.allclose(written["poses"], at30.axis_angle(), atol=1e-6)  # the cutoff in Hz: other frequencies
    proc = cli("info", src, "--fps", 60, "--json", stdout=subprocess.PIPE)
    assert '"fps": 60.0' in proc.communicate()[0]
    proc = cli("info", src, "--fps", "thirty", stderr=subprocess.PIPE)
    assert proc.wait() == 2 and "invalid float value: 'thirty'" in proc.stderr.read()
