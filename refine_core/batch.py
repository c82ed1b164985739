"""Refine many files: one runner for the CLI batch and the Blender batch (no bpy).

    python -m refine_core batch IN... --out DIR --method M [refine options]
        [--report R] [--jobs N] [--resume] [--quiet] [--ray [ADDRESS|auto|local]]

The steps, each usable alone (addon/batch.py runs its Blender pipeline on them):

- ``plan``: find the inputs (folders recursively, symlinked folders followed
  once each), give every input its output names, check the output folder and
  the report path before any work (exit 2, one line);
- a *processor* refines one item and returns its report row; ``refine_item``
  is the core's (read, refine, write the interchange file);
- ``run_serial`` (this process), ``run_pool`` (``--jobs N`` worker processes)
  or ``run_ray`` (long-lived Ray actors) hand the items to processors and the
  rows back; a worker loads a learned model once (``refiners.common``'s
  cache), and the rows say how often that happened;
- ``Progress`` draws the console progress; ``finish`` writes the report.

Every output goes to a hidden temporary name beside it and all outputs of one
input are renamed together when that input is done (``Staging``); a failed
input leaves nothing. Exit codes: 0 all ok (or skipped), 3 some file failed,
2 bad arguments, 1 interrupted or internal error.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from pathlib import Path

import numpy as np

from .atomic import atomic_write, remove_quietly, temp_sibling
from .errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_SOME_FAILED, BadInputError

INPUT_SUFFIXES = (".npz", ".pkl", ".pt", ".pth", ".npy")  # what the readers and the importer take
MAX_ATTEMPTS = 3  # a file whose worker died this often is reported failed
INTERCHANGE_FORMAT = "amass_npz"  # what read_motion calls the files write_npz writes


class ArgumentError(Exception):
    """A bad command line or unusable path: one line, exit code 2."""


class Interrupted(BaseException):
    """SIGTERM, turned into an exception so that cleanup runs as for Ctrl-C."""


# ---------------------------------------------------------------- the refinement request
def refine_option_names() -> list:
    """The ``dest`` of every option ``cli.add_refine_options`` defines."""
    from .cli import add_refine_options

    scratch = argparse.ArgumentParser(add_help=False)
    add_refine_options(scratch)
    return [a.dest for a in scratch._actions]


def refine_request(args) -> dict:
    """The parsed refine options as {method, read: read_motion kwargs,
    refine: refine kwargs}; every option goes by name, so an option added to
    ``add_refine_options`` reaches ``refine`` (or ``read_motion``) without
    code here. --start/--end become frame_range, --param params (as given:
    ``refine`` parses them; plain strings travel to workers as they are)."""
    import inspect

    from .formats import read_motion
    from .refiners import refine

    refine_args = set(inspect.signature(refine).parameters)
    read_args = set(inspect.signature(read_motion).parameters)
    request = {"method": args.method, "read": {}, "refine": {"frame_range": (args.start, args.end)}}
    for name in refine_option_names():
        if name in ("method", "start", "end"):
            continue
        if name == "param":
            request["refine"]["params"] = args.param
        elif name in refine_args:
            request["refine"][name] = getattr(args, name)
        elif name in read_args:
            request["read"][name] = getattr(args, name)
        else:  # a programming error, not the user's
            raise RuntimeError(f"refine option --{name} is neither a refine() nor a read_motion() argument")
    return request


def check_request(request: dict):
    """Refuse a request that no file can satisfy, before the first file: the
    core's ``refiners.check_request`` (method and its weights, blend,
    strength, device, parameters) and the range bounds that need no file
    (``check_frame_range`` on a motion as long as the range asks)."""
    import inspect

    from .refiners import check_frame_range
    from .refiners import check_request as check_refine_request

    kwargs = request["refine"]
    accepted = set(inspect.signature(check_refine_request).parameters)
    start, end = kwargs["frame_range"]
    try:
        check_refine_request(request["method"], **{k: v for k, v in kwargs.items() if k in accepted})
        if start is not None or end is not None:
            frames = max(v for v in (start, end, 0) if v is not None) + 1
            check_frame_range(_still_motion(frames), (start, end), "--start/--end")
    except BadInputError as err:
        raise ArgumentError(str(err)) from None


def _still_motion(frames: int):
    """A motion of ``frames`` identity poses (broadcast: no memory per frame)."""
    from .motion import Motion
    from .skeleton import NUM_JOINTS

    rot = np.broadcast_to(np.array([0.0, 0.0, 0.0, 1.0]), (frames, NUM_JOINTS, 4))
    return Motion(rot, np.broadcast_to(np.zeros(3), (frames, 3)), 30.0)


# ---------------------------------------------------------------- inputs, names, paths
def find_inputs(paths: Iterable) -> list:
    """[(file, root folder or None)] in argument order, folders searched
    recursively (sorted) for INPUT_SUFFIXES, hidden files skipped. Symlinked
    folders are followed; a folder reached twice (a link loop, or two links
    to one folder) is searched once."""
    found, seen = [], set()
    for arg in paths:
        path = Path(arg)
        if path.is_file():
            candidates = [(path, None)]
        elif path.is_dir():
            candidates = [(p, path) for p in _walk(path)]
            if not candidates:
                raise ArgumentError(f"{arg}: no motion files ({' '.join(INPUT_SUFFIXES)}) in this folder")
        else:
            raise ArgumentError(f"{arg}: no such file or folder")
        for p, root in candidates:
            key = os.path.realpath(p)
            if key not in seen:
                seen.add(key)
                found.append((p, root))
    return found


def _walk(root: Path) -> list:
    files, visited = [], set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in visited:  # a symlink loop or a second link: already searched
            dirs[:] = []
            continue
        visited.add((st.st_dev, st.st_ino))
        dirs.sort()
        files += [Path(folder, n) for n in names
                  if Path(n).suffix.lower() in INPUT_SUFFIXES and not n.startswith(".") and os.path.isfile(Path(folder, n))]
    return sorted(files)


def output_names(found) -> list:
    """A unique output name per input: the stem; inputs sharing a stem get
    their relative folder (to the folder argument, else the parent folder)
    prefixed, then a counter if still equal."""
    stems = [p.stem for p, _ in found]
    names = []
    for (p, root), stem in zip(found, stems, strict=True):
        if stems.count(stem) > 1:
            rel = p.relative_to(root).with_suffix("") if root is not None else Path(p.parent.name) / stem
            stem = "_".join(part for part in ((root.name if root is not None else ""),) + rel.parts if part)
        names.append(stem)
    unique = []
    for name in names:
        candidate, n = name, 2
        while candidate in unique:
            candidate, n = f"{name}_{n}", n + 1
        unique.append(candidate)
    return unique


def check_out_folder(out: Path):
    """Create ``out`` and prove it is writable (one line if not)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArgumentError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None
    if not out.is_dir():
        raise ArgumentError(f"{out}: the output path is not a folder")
    if not _can_create_in(out):
        raise ArgumentError(f"{out}: cannot write to the output folder ({_create_error(out)})")


def _can_create_in(folder: Path) -> bool:
    return _create_error(folder) is None


def _create_error(folder: Path) -> str | None:
    probe = folder / f".motion_refine_probe.{uuid.uuid4().hex[:8]}"
    try:
        probe.open("xb").close()
        probe.unlink()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def check_report_path(report: Path, taken: dict):
    """The report must be writable as a regular file and be none of the
    inputs or outputs (``taken``: real path -> what it is)."""
    if report.is_dir():
        raise ArgumentError(f"{report}: the report path is a folder; give a file name")
    if os.path.lexists(report) and not stat.S_ISREG(os.stat(report).st_mode):
        raise ArgumentError(f"{report}: the report path exists and is not a regular file")
    if not report.parent.is_dir():
        raise ArgumentError(f"{report}: the report's folder does not exist")
    what = taken.get(os.path.realpath(report))
    if what:
        raise ArgumentError(f"{report}: the report would overwrite {what}; choose another --report path")
    if report.exists() and not os.access(report, os.W_OK):
        raise ArgumentError(f"{report}: the report file is read-only")
    error = _create_error(report.parent)
    if error:
        raise ArgumentError(f"{report}: cannot write the report in {report.parent} ({error})")


def plan(inputs: Iterable, out, outputs: Callable[[Path, str], dict] = None, report=None,
         resume: bool = False) -> list:
    """The work, checked: [{input, name, outputs: {kind: path}, error?, skip?}].

    ``outputs(out, name)`` names an input's outputs (default: the interchange
    file ``<name>_refined.npz``). An item whose output would overwrite an
    input gets ``error`` (it fails without being run); with ``resume`` an
    item whose outputs all exist, the interchange file valid, gets ``skip``.
    Raises ArgumentError for what stops the whole batch."""
    out = Path(out).absolute()
    outputs = outputs or (lambda folder, name: {"output": folder / f"{name}_refined.npz"})
    found = find_inputs(inputs)
    check_out_folder(out)
    items = [{"input": str(p), "name": n, "outputs": {k: str(v) for k, v in outputs(out, n).items()}}
             for (p, _), n in zip(found, output_names(found), strict=True)]
    inputs = {os.path.realpath(i["input"]): f"the input file {i['input']}" for i in items}
    for item in items:
        if any(os.path.realpath(p) in inputs for p in item["outputs"].values()):
            item["error"] = f"{item['input']}: output would overwrite an input file; choose another --out folder"
        elif resume and _finished(item):
            item["skip"] = True
    taken = {os.path.realpath(p): f"the output {p}" for i in items for p in i["outputs"].values()}
    taken.update(inputs)
    if report is not None:
        check_report_path(Path(report).absolute(), taken)
    return items


def _finished(item: dict) -> bool:
    """All of an item's outputs exist and its interchange file reads back."""
    from .formats import read_motion

    if not all(os.path.isfile(p) for p in item["outputs"].values()):
        return False
    try:
        return read_motion(item["outputs"]["output"]).meta["format"] == INTERCHANGE_FORMAT
    except BadInputError:
        return False


# ---------------------------------------------------------------- atomic outputs, all or none
class Staging:
    """An input's outputs, written under hidden temporary names and renamed
    together when the input is done; on failure none of them is left."""

    def __init__(self):
        self.pairs = []

    def add(self, final, keep_suffix: bool = False) -> Path:
        """The temporary path to write ``final``'s content to."""
        final = Path(final)
        if os.path.lexists(final) and not stat.S_ISREG(os.lstat(final).st_mode):
            raise BadInputError(final, "exists and is not a regular file; it is not replaced")
        tmp = temp_sibling(final, keep_suffix=keep_suffix)
        self.pairs.append((tmp, final))
        return tmp

    @contextmanager
    def writing(self, final, keep_suffix: bool = False):
        """``with staging.writing(final) as tmp:`` write tmp; errors name
        ``final``, not the hidden temporary file."""
        tmp = self.add(final, keep_suffix)
        try:
            yield tmp
        except BadInputError as err:
            if err.source == str(tmp):
                raise BadInputError(final, err.problem) from None
            raise

    def commit(self):
        """Rename every temporary file to its final name, or none: a rename
        that fails puts back the files already replaced."""
        done, backups, final = [], [], None
        try:
            for tmp, final in self.pairs:
                if final.exists():
                    backup = temp_sibling(final)
                    os.replace(final, backup)
                    backups.append((backup, final))
                os.replace(tmp, final)
                done.append(final)
        except BaseException as exc:
            for placed in done:
                remove_quietly(placed)
            for backup, old in backups:
                os.replace(backup, old)
            self.discard()
            if isinstance(exc, OSError):
                raise BadInputError(final, f"cannot write the file ({exc.strerror or exc})") from None
            raise
        for backup, _ in backups:
            remove_quietly(backup)
        self.pairs = []

    def discard(self):
        for tmp, _ in self.pairs:
            remove_quietly(tmp)
        self.pairs = []


def sweep_temporaries(items: list):
    """Remove temporary siblings of the items' outputs (a worker killed while
    writing leaves one); only names this module's staging makes are touched."""
    for item in items:
        for final in map(Path, item["outputs"].values()):
            # atomic_write's temporary of our temporary starts with a second dot
            for pattern in (f".{final.name}.*.tmp*", f"..{final.name}.*.tmp*", f".{final.stem}.*.tmp{final.suffix}"):
                for tmp in final.parent.glob(pattern):
                    remove_quietly(tmp)


def failure_text(source, err: BaseException) -> str:
    """One line naming the file: a BadInputError's message, else the error type."""
    if isinstance(err, BadInputError):
        return str(err)
    return " ".join(f"{source}: {type(err).__name__}: {err}".split())


# ---------------------------------------------------------------- the core's processor
def refine_item(item: dict, request: dict) -> dict:
    """Read, refine and write one input; its report row (never raises for
    the file's own problems)."""
    from .formats import read_motion, write_npz
    from .refiners import refine

    src = item["input"]
    row = {"input": src, "status": "failed", "error": None, "output": None}
    with attempt(row) as staging:
        motion = read_motion(src, **request["read"])
        refined = refine(motion, request["method"], **request["refine"])
        with staging.writing(item["outputs"]["output"]) as tmp:
            write_npz(refined, tmp)
        staging.commit()
        row.update(status="ok", output=item["outputs"]["output"], frames=motion.num_frames, fps=motion.fps,
                   rows=list(refined.meta["refined_range"]))
    return row


@contextmanager
def attempt(row: dict):
    """``with attempt(row) as staging:`` one file's work. The file's own
    error becomes the row's one-line ``error`` (status failed) and its staged
    outputs are removed; an interrupt removes them too and goes on; the row
    gets its ``seconds`` either way."""
    staging, t0 = Staging(), time.perf_counter()
    try:
        yield staging
    except Exception as err:
        staging.discard()
        row.update(status="failed", output=None, error=failure_text(row["input"], err))
    except BaseException:
        staging.discard()
        raise
    finally:
        row["seconds"] = round(time.perf_counter() - t0, 3)


def worker_id() -> str:
    """host:pid of this process (the report counts model loads per worker)."""
    return f"{platform.node()}:{os.getpid()}"


def model_loads() -> int:
    """Learned models this process has loaded so far (0 while torch is not in use)."""
    common = sys.modules.get(f"{__package__}.refiners.common")
    return common.load_count() if common is not None else 0


@contextmanager
def core_processor(request: dict):
    """The processor of ``python -m refine_core batch``."""
    yield lambda item: refine_item(item, request)


# ---------------------------------------------------------------- serial
def run_serial(items: list, processor, on_row):
    """Every item in this process, one after the other."""
    for item in items:
        row = processor(item)
        row.update(worker=worker_id(), model_loads=model_loads())
        on_row(row)


# ---------------------------------------------------------------- local worker processes
def serve(task_fd: int, result_fd: int, make_processor: Callable):
    """A worker's loop: options, then items, in on ``task_fd``; rows out on
    ``result_fd`` (JSON over the worker's own pipes: nothing the refinement
    prints can be taken for a row). Ends when the parent closes its end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which stops us
    signal.signal(signal.SIGTERM, _raise_interrupted)
    tasks, results = Connection(task_fd, writable=False), Connection(result_fd, readable=False)
    try:
        options = json.loads(tasks.recv_bytes())
        with make_processor(options) as processor:
            results.send_bytes(json.dumps({"ready": os.getpid()}).encode())
            while True:
                try:
                    item = json.loads(tasks.recv_bytes())
                except EOFError:
                    break
                row = processor(item)
                row.update(worker=worker_id(), model_loads=model_loads())
                results.send_bytes(json.dumps(row).encode())
    except (Interrupted, BrokenPipeError, EOFError):
        pass


def worker_main():
    """``python -c 'import refine_core.batch as b; b.worker_main()' TASK_FD RESULT_FD``."""
    serve(int(sys.argv[1]), int(sys.argv[2]), lambda options: core_processor(options))


def core_worker_command() -> list:
    """This interpreter running ``worker_main`` of this package's batch module."""
    return [sys.executable, "-c", f"import {__name__} as b; b.worker_main()"]


def _raise_interrupted(signum, frame):
    raise Interrupted()


class _Worker:
    def __init__(self, command: list, options: dict, env: dict, log_dir: Path):
        task_r, self._task_w = os.pipe()
        self._result_r, result_w = os.pipe()
        self.log = log_dir / f"worker{uuid.uuid4().hex[:8]}.log"
        with open(self.log, "wb") as log:
            # Own session: a Ctrl-C in the terminal reaches the parent only, which stops the workers.
            self.proc = subprocess.Popen([*command, str(task_r), str(result_w)], pass_fds=(task_r, result_w),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        os.close(task_r)
        os.close(result_w)  # ours closed: the worker's exit is EOF here
        self.tasks, self.results = Connection(self._task_w, readable=False), Connection(self._result_r, writable=False)
        self.item, self.ready, self.pid = None, False, self.proc.pid
        self.tasks.send_bytes(json.dumps(options).encode())

    def give(self, item: dict):
        self.item = item
        self.tasks.send_bytes(json.dumps(item).encode())

    def death(self) -> str:
        """Why the worker is gone: its exit status and last output line."""
        code = self.proc.wait()
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        try:
            lines = [line for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            lines = []
        return how + (f"; last output: {lines[-1].strip()}" if lines else "")

    def stop(self, graceful: bool = False):
        """Close the pipes; an idle worker then exits by itself (``graceful``:
        wait for that), a busy or stuck one is terminated, then killed."""
        for conn in (self.tasks, self.results):
            if not conn.closed:
                conn.close()
        for send, grace in ((None, 5.0 if graceful else 0.0), (self.proc.terminate, 10.0), (self.proc.kill, None)):
            if self.proc.poll() is not None:
                return
            if send is not None:
                send()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass


def run_pool(items: list, command: list, options: dict, jobs: int, on_row, env: dict | None = None):
    """``items`` over ``jobs`` worker processes running ``command`` + the two
    pipe fds (``serve`` on the other side), one item at a time each. A worker
    that dies has its item retried by a new worker (MAX_ATTEMPTS in all);
    one that dies before it is ready is not replaced. Interrupted: workers
    are stopped, their temporary files swept."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    env = dict(os.environ if env is None else env)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # no oversubscription; the user's choice wins
        env.setdefault(var, str(threads))
    root = str(Path(__file__).resolve().parents[1])  # so the workers import this copy of the package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    pending, attempts, workers = list(items), {}, []
    log_dir = Path(tempfile.mkdtemp(prefix="motion_refine_batch_"))
    try:
        workers = [_Worker(command, options, env, log_dir) for _ in range(min(jobs, len(items)))]
        while workers and (pending or any(w.item for w in workers)):
            for conn in wait([w.results for w in workers]):
                worker = next(w for w in workers if w.results is conn)
                try:
                    message = json.loads(conn.recv_bytes())
                except (EOFError, OSError):
                    workers.remove(worker)
                    reason = worker.death()
                    worker.stop()
                    if worker.item is not None:
                        item, key = worker.item, worker.item["input"]
                        attempts[key] = attempts.get(key, 0) + 1
                        if attempts[key] < MAX_ATTEMPTS:
                            pending.insert(0, item)
                            workers.append(_Worker(command, options, env, log_dir))
                        else:
                            on_row(died_row(item, attempts[key], reason))
                    elif not workers and pending:
                        for item in pending:
                            on_row(died_row(item, 0, reason))
                        pending = []
                    continue
                if "ready" not in message:
                    worker.item = None
                    message["attempts"] = attempts.get(message["input"], 0) + 1
                    on_row(message)
                worker.ready = True
                if pending:
                    worker.give(pending.pop(0))
        for worker in workers:
            worker.stop(graceful=True)
    finally:
        for worker in workers:
            worker.stop()
        sweep_temporaries(items)
        shutil.rmtree(log_dir, ignore_errors=True)


def died_row(item: dict, attempts: int, reason: str) -> dict:
    """The row of a file whose worker died under it ``attempts`` times."""
    what = (f"the worker process died {attempts} times while refining this file" if attempts
            else "no worker process could start")
    return {"input": item["input"], "status": "failed", "output": None, "attempts": attempts,
            "error": " ".join(f"{item['input']}: {what} ({reason})".split())}


# ---------------------------------------------------------------- Ray
def connect_ray(address: str):
    """Start or join Ray: "local" starts it on this machine (127.0.0.1, no
    dashboard), "auto" joins the cluster this node belongs to, else a cluster
    address. The workers import this copy of the package (PYTHONPATH)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports leave the machine unasked
    if address == "local":  # one machine: Ray on the loopback address (read when ray is imported)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ArgumentError("--ray: the ray package is not installed (pip install -r requirements.txt)") from None
    root = str(Path(__file__).resolve().parents[1])
    init = {"runtime_env": {"env_vars": {"PYTHONPATH": root, "RAY_USAGE_STATS_ENABLED": "0"}},
            "logging_level": "WARNING", "log_to_driver": False}
    if address == "local":
        init.update(address="local", include_dashboard=False)
    else:
        init["address"] = address
    try:
        ray.init(**init)
    except Exception as err:  # no cluster there, a wrong address, a version mismatch
        message = f"--ray {address}: cannot start or join Ray ({type(err).__name__}: {err})"
        raise ArgumentError(" ".join(message.split())) from None
    return ray


def run_ray(items: list, request: dict, on_row, jobs: int | None = None,
            num_gpus_per_worker: float | None = None) -> dict:
    """``items`` over long-lived Ray actors (``BatchWorker``; Ray connected
    by ``connect_ray``) that each load the model once. Inputs and outputs are
    paths that every node sees (shared storage). A file whose actor dies is
    retried on a new one (MAX_ATTEMPTS in all). Returns what the summary
    says about the workers."""
    import ray

    resources = ray.cluster_resources()
    gpus = resources.get("GPU", 0.0)
    gpw = (1.0 if gpus else 0.0) if num_gpus_per_worker is None else float(num_gpus_per_worker)
    cpus = int(resources.get("CPU", 1))
    if gpw > 0:
        count = jobs or max(1, int(gpus / gpw + 1e-9))
        threads = max(1, cpus // count)
    else:
        count = jobs or max(1, cpus)
        threads = max(1, cpus // count)
    count = min(count, len(items))
    worker_class = ray.remote(BatchWorker).options(num_cpus=threads, num_gpus=gpw, max_restarts=0,
                                                   max_task_retries=0)
    started = [0]

    def start():
        started[0] += 1
        return worker_class.remote(request, threads)

    pending, attempts, running = list(items), {}, {}

    def give(actor):
        item = pending.pop(0)
        running[actor.run.remote(item)] = (actor, item)

    for _ in range(count):
        give(start())
    try:
        _ray_loop(ray, running, pending, attempts, give, start, on_row)
    except BaseException:  # interrupted: end the workers before their temporary files are swept
        for actor, _ in running.values():
            ray.kill(actor)
        if running:
            ray.wait(list(running), num_returns=len(running), timeout=10)
        raise
    finally:
        sweep_temporaries(items)  # an actor killed while writing leaves its temporary file
    return {"ray_workers": started[0], "ray_gpus_per_worker": gpw, "ray_threads_per_worker": threads}


def _ray_loop(ray, running: dict, pending: list, attempts: dict, give, start, on_row):
    """Hand out files as actors finish them; a dead actor's file goes back in the queue."""
    while running:
        done, _ = ray.wait(list(running), num_returns=1)
        ref = done[0]
        actor, item = running.pop(ref)
        try:
            row = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as err:
            key = item["input"]
            attempts[key] = attempts.get(key, 0) + 1
            ray.kill(actor)
            reason = " ".join(str(getattr(err, "error_msg", None) or err).split())[:300]
            if attempts[key] < MAX_ATTEMPTS:
                pending.insert(0, item)
            else:
                on_row(died_row(item, attempts[key], reason))
            if pending:
                give(start())
            continue
        row["attempts"] = attempts.get(item["input"], 0) + 1
        on_row(row)
        if pending:
            give(actor)


class BatchWorker:
    """A Ray actor: refines items with the core, one after the other; a
    file's failure is its row, never the actor's end."""

    def __init__(self, request: dict, threads: int):
        import ray

        from .refiners import get_method

        if get_method(request["method"]).kind == "learned":
            import torch

            torch.set_num_threads(threads)
        if not ray.get_gpu_ids() and request["refine"].get("device") == "auto":  # a CPU worker on a GPU node
            request = dict(request, refine=dict(request["refine"], device="cpu"))
        self.request = request

    def run(self, item: dict) -> dict:
        row = refine_item(item, self.request)
        row.update(worker=worker_id(), model_loads=model_loads())
        return row


# ---------------------------------------------------------------- progress and report
class Progress:
    """Console progress on stderr: a bar (done/total, failures, ETA) on a
    terminal, else one line per file; nothing when ``quiet``."""

    def __init__(self, total: int, quiet: bool = False, stream=None, describe: Callable = None):
        self.stream = stream or sys.stderr
        self.total, self.done, self.failed, self.skipped = total, 0, 0, 0
        self.quiet, self.bar = quiet, not quiet and self.stream.isatty()
        self.describe = describe or (lambda row: f"ok      {row['input']} -> {Path(row['output']).name}")
        self.t0 = time.perf_counter()

    def __call__(self, row: dict):
        self.done += 1
        self.failed += row["status"] == "failed"
        self.skipped += row["status"] == "skipped"
        if self.quiet:
            return
        run = self.done - self.skipped
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / run * (self.total - self.done) if run else 0.0
        if row["status"] == "failed":
            what = f"FAILED  {row['error']}"
        elif row["status"] == "skipped":
            what = f"skipped {row['input']} (output exists)"
        else:
            what = self.describe(row)
        if self.bar:
            if row["status"] == "failed":
                self.stream.write(f"\r\033[K{what}\n")
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            self.stream.write(f"\r\033[K[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} files, "
                              f"{self.failed} failed, ETA {int(eta) // 3600}:{int(eta) % 3600 // 60:02d}:{int(eta) % 60:02d}")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"[{self.done}/{self.total}] {what}  ({row.get('seconds', 0):.1f} s, ETA {eta:.0f} s)\n")
        self.stream.flush()


def skipped_row(item: dict) -> dict:
    return {"input": item["input"], "status": "skipped", "error": None, "output": item["outputs"]["output"],
            "reason": "output exists and is a valid interchange file (--resume)"}


def failed_row(item: dict) -> dict:
    return {"input": item["input"], "status": "failed", "error": item["error"], "output": None}


def summarize(items: list, results: dict, seconds: float, extra: dict) -> dict:
    """The report: rows in input order and the summary with model loads
    (the largest count each worker process reported, summed)."""
    rows = [results[i["input"]] for i in items]
    loads = {}
    for row in rows:
        if "worker" in row:
            loads[row["worker"]] = max(loads.get(row["worker"], 0), row.get("model_loads", 0))
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "failed", "skipped")}
    ran = counts["ok"] + counts["failed"]
    summary = {"total": len(rows), **counts, "seconds": round(seconds, 3),
               "files_per_second": round(ran / seconds, 3) if seconds > 0 else None,
               "workers": len(loads), "model_loads": sum(loads.values()), **extra}
    return {"files": rows, "summary": summary}


def write_report(report: dict, path) -> bool:
    """Write the JSON report atomically; if that fails after all the work,
    say so in one line and print it on stdout so it is not lost."""
    try:
        with atomic_write(path, text=True) as f:
            json.dump(report, f, indent=2, default=str)
            f.write("\n")
        return True
    except BadInputError as err:
        print(f"error: {err}; the report follows on stdout", file=sys.stderr)
        print(json.dumps(report, indent=2, default=str))
        return False


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM (timeout, systemd, CI) ends the batch as Ctrl-C does: workers
    stopped, temporary files removed. Main thread only; else a no-op."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_items(items: list, on_row, run_fn: Callable[[list, Callable], dict | None]) -> tuple:
    """Report the pre-decided rows (skipped, refused), run the rest with
    ``run_fn(todo, on_row)``; (results by input, extra summary, seconds)."""
    results = {}

    def record(row):
        results[row["input"]] = row
        on_row(row)

    for item in items:
        if item.get("skip"):
            record(skipped_row(item))
        elif item.get("error"):
            record(failed_row(item))
    todo = [i for i in items if not i.get("skip") and not i.get("error")]
    t0 = time.perf_counter()
    extra = run_fn(todo, record) if todo else None
    return results, extra or {}, time.perf_counter() - t0


# ---------------------------------------------------------------- the command
def add_batch_arguments(p: argparse.ArgumentParser, ray: bool = True):
    """The batch options besides the refine ones (``ray``: also --ray and
    --num-gpus-per-worker; the Blender batch has no Ray mode)."""
    p.add_argument("inputs", nargs="+", metavar="IN", help="motion files or folders (searched recursively)")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--report", help="write the JSON report here")
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes (default 1" + ("; with --ray: one per CPU, or per GPU)" if ray else ")"))
    p.add_argument("--resume", action="store_true", help="skip inputs whose outputs exist (the .npz valid)")
    p.add_argument("--quiet", action="store_true", help="no progress and no summary line")
    if ray:
        p.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS|auto|local",
                       help="run on Ray: a cluster address, auto (the cluster of this node, the default), or local")
        p.add_argument("--num-gpus-per-worker", type=float, default=None, metavar="G",
                       help="with --ray: GPUs per worker (default 1 when the cluster has GPUs, else 0)")


def check_batch_arguments(args):
    """What ``add_batch_arguments``' options must satisfy (argparse checks the types)."""
    if args.jobs is not None and args.jobs < 1:
        raise ArgumentError(f"--jobs {args.jobs}: must be 1 or more")


def cmd_batch(args) -> int:
    """``python -m refine_core batch``: the exit code."""
    try:
        check_batch_arguments(args)
        if args.num_gpus_per_worker is not None and (args.ray is None or args.num_gpus_per_worker < 0):
            raise ArgumentError("--num-gpus-per-worker: needs --ray and a number of 0 or more")
        request = refine_request(args)
        check_request(request)
        items = plan(args.inputs, args.out, report=args.report, resume=args.resume)
        ray = connect_ray(args.ray) if args.ray is not None else None
    except ArgumentError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if ray is not None:
        mode = f"ray {args.ray}"

        def run_fn(todo, on_row):
            return run_ray(todo, request, on_row, jobs=args.jobs, num_gpus_per_worker=args.num_gpus_per_worker)
    elif (args.jobs or 1) > 1:
        mode = f"jobs {args.jobs}"

        def run_fn(todo, on_row):
            run_pool(todo, core_worker_command(), request, args.jobs, on_row)
    else:
        mode = "jobs 1"

        def run_fn(todo, on_row):
            with core_processor(request) as processor:
                run_serial(todo, processor, on_row)
    settings = {"mode": mode, "jobs": args.jobs or (None if ray is not None else 1), "out": str(Path(args.out).absolute()),
                "method": request["method"], **request["read"], **request["refine"]}
    try:
        return finish(items, run_fn, settings, args.report, args.quiet)
    finally:
        if ray is not None:
            ray.shutdown()


def finish(items: list, run_fn, settings: dict, report_path=None, quiet: bool = False, describe=None) -> int:
    """Run, show progress, write the report, print the summary line; the exit code."""
    progress = Progress(len(items), quiet=quiet, describe=describe)
    try:
        with sigterm_as_interrupt():
            results, extra, seconds = run_items(items, progress, run_fn)
    except (KeyboardInterrupt, Interrupted):
        sweep_temporaries(items)
        print("\ninterrupted" if progress.bar else "interrupted", file=sys.stderr)
        return EXIT_INTERNAL
    report = summarize(items, results, seconds, {**extra, **settings})
    written = write_report(report, report_path) if report_path else True
    s = report["summary"]
    if not quiet:
        print(f"{s['total']} files: {s['ok']} ok, {s['failed']} failed" + (f", {s['skipped']} skipped" if s["skipped"] else "")
              + f" in {seconds:.1f} s ({s['files_per_second']} files/s, {s['model_loads']} model loads)"
              + (f"; report: {report_path}" if report_path and written else ""), flush=True)
    if not written:
        return EXIT_INTERNAL
    return EXIT_SOME_FAILED if s["failed"] else EXIT_OK
