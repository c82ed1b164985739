"""External Python: run the refiner in the user's own interpreter (no bpy).

A CUDA build of torch is too big to bundle, so the preferences can name a
Python that has refine_core's requirements with CUDA torch. ``refine_external``
then takes ``refine``'s arguments, writes a job file, runs
``python -m refine_core worker JOB OUT`` with this extension's own
refine_core (and its weights) first on the path, relays the worker's
progress lines and reads the result back (refine_core/worker.py). It is
safe in the modal operator's worker thread; the progress callback may raise
``Cancelled``, which kills the worker. A worker that cannot start, fails or
dies is an error; nothing is changed.
"""
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from ..refine_core.errors import BadInputError
from ..refine_core.worker import PROGRESS_PREFIX, read_result, write_job

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # holds refine_core/
POLL_S = 0.2  # how often a quiet worker still lets the progress callback cancel


def refine_external(python: str, motion, method: str, progress=None, **kwargs):
    """``refine(motion, method, **kwargs)`` run by ``python``; returns the
    refined ``Motion`` (same skeleton, betas, fps and meta as ``motion``)."""
    work = tempfile.mkdtemp(prefix="motion_refine_worker_")
    try:
        job, out = os.path.join(work, "job.npz"), os.path.join(work, "result.npz")
        write_job(job, motion, method, **kwargs)
        with open(os.path.join(work, "stderr.txt"), "w+") as err:
            code = _run_worker(python, job, out, err, progress)
            err.seek(0)
            _check_exit(python, code, err.read())
        try:
            rotations, trans, added = read_result(out)
        except Exception as exc:  # exited 0 but wrote nothing readable: say so without the temp path
            what = "no result" if isinstance(exc, FileNotFoundError) else f"an unreadable result ({type(exc).__name__})"
            raise RuntimeError(f"External Python worker ({python}) exited without error but wrote {what}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if "refined_range" in added:
        added["refined_range"] = tuple(added["refined_range"])
    return motion.replace(rotations=rotations, trans=trans, meta=dict(motion.meta, **added))


def _worker_env() -> dict:
    """The environment for the worker: this package's folder first on its
    path (so its refine_core and weights are used), no Blender Python home."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
    env["PYTHONPATH"] = str(PACKAGE_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run_worker(python, job, out, err_file, progress) -> int:
    """Start the worker, relay progress until it exits; returns its exit
    code. ``progress`` is called at least every POLL_S seconds, also after the
    worker closed its stdout, so a cancel always lands; any exception from it
    kills the worker and propagates."""
    cmd = [python, "-m", "refine_core", "worker", job, out]
    try:
        proc = subprocess.Popen(cmd, cwd=str(PACKAGE_ROOT), env=_worker_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err_file, text=True)
    except OSError as exc:
        raise BadInputError(f"External Python {python}", f"cannot be started ({exc.strerror or exc}); "
                            "fix or clear the path in the add-on preferences") from None
    lines = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    fraction = 0.0
    try:
        while True:
            try:
                line = lines.get(timeout=POLL_S)
            except queue.Empty:
                if proc.poll() is not None:  # exited, though a process it started may still hold stdout
                    break
                line = ""
            if line is None:  # stdout closed: the worker ended, died or closed it
                break
            if line.startswith(PROGRESS_PREFIX):
                try:
                    fraction = float(line[len(PROGRESS_PREFIX):])
                except ValueError:  # not the worker's own line: keep the last fraction
                    pass
            if progress is not None:
                progress(fraction)
        while True:  # a worker may close stdout and go on: wait for its exit, still cancellable
            try:
                return proc.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                if progress is not None:
                    progress(fraction)
    except BaseException:
        proc.kill()
        proc.wait()
        raise


def _pump(stream, lines: queue.Queue):
    """Reader thread: the worker's stdout lines, then None at end of stream."""
    try:
        for line in stream:
            lines.put(line.strip())
    finally:
        lines.put(None)
        stream.close()


def _check_exit(python, code: int, stderr: str):
    """Raise for a failed worker: its own one-line message when it reports
    bad input (exit 2), else what happened to it."""
    last = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "")
    if code == 0:
        return
    if code == 2 and last.startswith("error: "):
        raise BadInputError(None, last[len("error: "):])
    if code < 0:
        raise RuntimeError(f"External Python worker ({python}) was killed (signal {-code})")
    detail = f": {last}" if last else ""
    raise RuntimeError(f"External Python worker ({python}) failed with exit code {code}{detail}")
