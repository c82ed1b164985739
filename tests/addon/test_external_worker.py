"""External Python (addon/external.py, refine_core/worker.py): Refine Motion
run in another interpreter as a worker process, in real bpy.

The "external" interpreter is this venv's own Python (sys.executable); the
worker imports the add-on's refine_core (PYTHONPATH), not an installed copy.
"""
import os
import stat
import sys

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from test_addon import all_keys, import_file, refine  # noqa: E402

from blender_helpers import backup_of  # noqa: E402


def _method():
    """A learned method when weights exist (hpr first), else a classical one:
    both go through the same worker path."""
    from motion_refine.refine_core.refiners import METHODS

    learned = [m for m in ("hpr", *METHODS) if METHODS[m].kind == "learned" and METHODS[m].available]
    return learned[0] if learned else "butterworth"


def _set_external(path):
    bpy.context.preferences.addons["motion_refine"].preferences.external_python = str(path)


def _fake_python(tmp_path, body):
    """An executable standing in for a Python that misbehaves."""
    path = tmp_path / "fake_python"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_external_worker_same_keys_as_in_process(blender, motion_file):
    method = _method()
    inside = import_file(motion_file)
    assert refine(method=method) == {"FINISHED"}
    outside = import_file(motion_file)
    _set_external(sys.executable)
    seen = []
    from motion_refine.addon import ops_refine

    settings = ops_refine.RefineSettings(method, 100, 400, 5)
    metrics = ops_refine.refine_object(outside, settings, progress=seen.append)
    a, b = all_keys(inside), all_keys(outside)
    assert a.keys() == b.keys()
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst <= 1e-6, f"{method}: external keys differ from in-process by {worst}"
    assert metrics["method"] == method and (metrics["frame_start"], metrics["frame_end"]) == (100, 400)
    assert metrics["accel_mean_after"] == pytest.approx(inside["motion_refine_metrics"]["accel_mean_after"], rel=1e-5)
    assert seen and seen[-1] == 1.0  # the worker's progress lines reached the callback
    # The operator takes the same path (the preference is still set).
    outside.select_set(True)
    bpy.context.view_layer.objects.active = outside
    assert refine(method=method) == {"FINISHED"}


def test_bad_interpreter_is_an_error_and_keys_unchanged(blender, motion_file, tmp_path):
    obj = import_file(motion_file)
    before = all_keys(obj)
    _set_external(tmp_path / "no" / "such" / "python")
    with pytest.raises(RuntimeError, match="External Python .* cannot be started"):
        refine()
    assert all(np.array_equal(before[k], v) for k, v in all_keys(obj).items())
    assert backup_of(obj) is None


def test_worker_dying_mid_run_is_an_error_and_keys_unchanged(blender, motion_file, tmp_path):
    obj = import_file(motion_file)
    before = all_keys(obj)
    _set_external(_fake_python(tmp_path, 'echo "progress 0.2"; kill -9 $$'))
    with pytest.raises(RuntimeError, match=r"killed \(signal 9\).*keys unchanged"):
        refine()
    # A worker that fails on its own reports its last stderr line.
    _set_external(_fake_python(tmp_path, 'echo "ModuleNotFoundError: No module named torch" >&2; exit 1'))
    with pytest.raises(RuntimeError, match="exit code 1: ModuleNotFoundError"):
        refine()
    assert all(np.array_equal(before[k], v) for k, v in all_keys(obj).items())
    assert backup_of(obj) is None and "motion_refine_metrics" not in obj


@pytest.mark.parametrize("closes_stdout", [False, True], ids=["quiet", "stdout_closed"])
def test_cancel_kills_a_quiet_worker(blender, motion_file, tmp_path, closes_stdout):
    """Esc reaches a worker that prints nothing for a long time (the
    callback is polled, not only called on progress lines), also one that
    closed its stdout and goes on (the callback is still polled while it runs)."""
    from motion_refine.addon import ops_refine
    from motion_refine.refine_core.refiners import Cancelled

    obj = import_file(motion_file)
    before = all_keys(obj)
    pid_file = tmp_path / "pid"
    close = 'echo "progress 0.5"; exec 1>&-; ' if closes_stdout else ""
    _set_external(_fake_python(tmp_path, f'{close}echo $$ > "{pid_file}"; exec sleep 600'))
    calls = []

    def cancel_on_third_poll(fraction):
        calls.append(fraction)
        if len(calls) >= 3 and pid_file.exists():
            raise Cancelled()

    with pytest.raises(Cancelled):
        ops_refine.refine_object(obj, ops_refine.RefineSettings("butterworth", 100, 400), progress=cancel_on_third_poll)
    assert calls[-1] == (0.5 if closes_stdout else 0.0)
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(pid, 0)
    assert all(np.array_equal(before[k], v) for k, v in all_keys(obj).items()) and backup_of(obj) is None


@pytest.mark.parametrize("how", ["stdout_closed", "stdout_held_by_a_child"])
def test_worker_that_writes_no_result_is_one_clear_line(blender, motion_file, tmp_path, how):
    """Exit 0 without a result file (stdout closed early, or left open by a
    process the worker started): one line naming the worker, at its exit, not
    a FileNotFoundError on a temporary path."""
    obj = import_file(motion_file)
    before = all_keys(obj)
    child = tmp_path / "child_pid"
    body = {"stdout_closed": "exec 1>&-; sleep 0.5; exit 0",
            "stdout_held_by_a_child": f'sleep 600 & echo $! > "{child}"; exit 0'}[how]
    _set_external(_fake_python(tmp_path, body))
    try:
        with pytest.raises(RuntimeError) as info:
            refine()
    finally:
        if child.exists():
            os.kill(int(child.read_text()), 9)
    message = str(info.value).strip()
    assert "exited without error but wrote no result" in message and message.endswith("keys unchanged")
    assert "fake_python" in message
    assert len(message.splitlines()) == 1 and "motion_refine_worker_" not in message and "FileNotFound" not in message
    assert all(np.array_equal(before[k], v) for k, v in all_keys(obj).items()) and backup_of(obj) is None
