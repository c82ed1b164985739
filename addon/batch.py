"""Headless batch refinement through real Blender (DESIGN.md section 4, Batch).

    blender -b --python addon/batch.py -- IN... --out DIR --method M [options]
    python addon/batch.py -- IN... --out DIR --method M [options]     (bpy as a module)
    blender -c motion_refine IN... --out DIR --method M [options]     (extension installed, 4.2+)

Each input goes through Blender as the panel does: ``ops_import.read_input``
+ ``import_motion`` (armature and keys), ``ops_refine.refine_object`` (the
refine button's code), ``ops_export.export_object`` (the export operator's
code); so the file the batch writes is the file the button would write.
The scene is reset to an empty factory startup before each file.

Outputs go to a temporary name in ``--out`` and are renamed when the file is
done; a failed file leaves nothing. Exit codes: 0 all ok, 3 any file failed,
2 bad arguments (one line), 1 internal error. ``--jobs N`` starts N worker
processes (this script with the internal ``--worker PLAN`` argument), each
with its own Blender; they report rows on stdout and the parent prints the
progress and writes the report. See docs/batch.md.

Top-level imports are stdlib only: run as a script, this file first loads the
repository root as the package (``_bootstrap.load_package``) and then runs
``main`` from the package's copy of this module.
"""
import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_ARGS, EXIT_FAILED = 0, 1, 2, 3
CLI_COMMAND = "motion_refine"
ROW_TAG = "@@motion_refine_row "  # worker -> parent protocol line on stdout
INPUT_SUFFIXES = (".npz", ".pkl", ".pt", ".pth", ".npy")  # what ops_import.FILE_GLOB offers


class ArgumentError(Exception):
    """A bad command line or unusable path: one line, exit code 2."""


# ---------------------------------------------------------------- arguments
def build_parser() -> argparse.ArgumentParser:
    from ..refine_core.cli import add_refine_options

    p = argparse.ArgumentParser(
        prog="batch.py", description="Refine SMPL motion files headless through Blender.",
        epilog="Frames are 0-based rows of each file, inclusive. Exit codes: 0 all ok, 3 any failed, 2 bad arguments.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="motion files or folders (searched recursively)")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    add_refine_options(p)
    p.add_argument("--report", help="write the JSON report here")
    p.add_argument("--plots", action="store_true", help="write <name>_accel.png (before/after graph) per input")
    p.add_argument("--save-blend", action="store_true", help="write <name>_refined.blend per input")
    p.add_argument("--jobs", type=int, default=1, help="parallel worker processes (each its own Blender)")
    return p


def strip_separator(argv):
    """Blender's argv -> ours: what follows the first ``--``; a leading ``--``
    alone (python addon/batch.py -- ...) is dropped too."""
    argv = list(argv)
    return argv[argv.index("--") + 1:] if "--" in argv else argv


def check_options(args) -> dict:
    """Validate everything that does not depend on a file; the options as a
    plain dict (what workers receive)."""
    from ..refine_core.cli import _parse_params
    from ..refine_core.errors import BadInputError
    from ..refine_core.refiners import get_method

    try:
        spec = get_method(args.method)
        if not spec.available:
            spec.load()  # raises the "no trained weights yet" message
        params = _parse_params(args.param)
    except BadInputError as err:
        raise ArgumentError(str(err)) from None
    if args.start is not None and args.start < 0 or args.end is not None and args.end < 0:
        raise ArgumentError("--start/--end: rows are 0-based and cannot be negative")
    if args.start is not None and args.end is not None and args.end < args.start:
        raise ArgumentError(f"--start {args.start} --end {args.end}: the end comes before the start")
    if not 0.0 <= args.strength <= 1.0:
        raise ArgumentError(f"--strength {args.strength}: must be between 0 and 1")
    if args.blend < 0:
        raise ArgumentError(f"--blend {args.blend}: must be 0 or more frames")
    if args.jobs < 1:
        raise ArgumentError(f"--jobs {args.jobs}: must be 1 or more")
    return {"method": args.method, "start": args.start, "end": args.end, "blend": args.blend,
            "strength": args.strength, "device": args.device, "params": params,
            "plots": args.plots, "save_blend": args.save_blend, "out": str(Path(args.out).absolute())}


# ---------------------------------------------------------------- inputs and names
def find_inputs(paths) -> list:
    """[(file, root folder or None)] in argument order, folders searched
    recursively (sorted) for the suffixes the importer reads."""
    found, seen = [], set()
    for arg in paths:
        path = Path(arg)
        if path.is_file():
            candidates = [(path, None)]
        elif path.is_dir():
            candidates = [(p, path) for p in sorted(path.rglob("*"))
                          if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES and not p.name.startswith(".")]
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


def output_names(found) -> list:
    """A unique output name per input: the stem; inputs sharing a stem get
    their relative folder (to the folder argument, else the parent folder)
    prefixed, then a counter if still equal."""
    stems = [p.stem for p, _ in found]
    names = []
    for (p, root), stem in zip(found, stems):
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
    probe = out / f".motion_refine_probe.{uuid.uuid4().hex[:8]}"
    try:
        probe.open("xb").close()
        probe.unlink()
    except OSError as exc:
        raise ArgumentError(f"{out}: cannot write to the output folder ({exc.strerror or exc})") from None


# ---------------------------------------------------------------- atomic outputs
class Staging:
    """Files written under temporary names, renamed together when the input
    is done, removed if it fails."""

    def __init__(self):
        self.pairs = []

    def add(self, final: Path) -> Path:
        from ..refine_core.atomic import temp_sibling

        tmp = temp_sibling(final, keep_suffix=True)  # Blender saves only .blend names
        self.pairs.append((tmp, final))
        return tmp

    def commit(self):
        for tmp, final in self.pairs:
            os.replace(tmp, final)
        self.pairs = []

    def discard(self):
        from ..refine_core.atomic import remove_quietly

        for tmp, _ in self.pairs:
            remove_quietly(tmp)
        self.pairs = []


def write_json_atomic(data, path: Path):
    from ..refine_core.atomic import atomic_write

    with atomic_write(path, text=True) as f:
        json.dump(data, f, indent=2)
        f.write("\n")


# ---------------------------------------------------------------- one file in Blender
def reset_blender():
    """An empty factory scene; preferences and registered add-ons stay."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)


def refine_file(item: dict, opts: dict, protected: set) -> dict:
    """Import, refine and export one input; returns its report row.
    ``protected``: real paths of all inputs (never written)."""
    import bpy

    from ..refine_core.errors import BadInputError
    from ..refine_core.refiners import check_frame_range
    from . import ops_export, ops_import, ops_refine, review

    src, name = item["input"], item["name"]
    out = Path(opts["out"])
    row = {"input": src, "status": "failed", "error": None, "output": None, "metrics": None}
    finals = {"output": out / f"{name}_refined.npz"}
    if opts["plots"]:
        finals["plot"] = out / f"{name}_accel.png"
    if opts["save_blend"]:
        finals["blend"] = out / f"{name}_refined.blend"
    staging = Staging()
    t0 = time.perf_counter()
    try:
        for final in finals.values():
            if os.path.realpath(final) in protected:
                raise BadInputError(final, "output would overwrite an input file; choose another --out folder")
        reset_blender()
        motion, model = ops_import.read_input(src)
        start, end = check_frame_range(motion, (opts["start"], opts["end"]), src)
        obj = ops_import.import_motion(bpy.context, motion, Path(src).stem, model=model)
        scene = bpy.context.scene
        scene.motion_refine.strength = opts["strength"]  # the button's value is this float32 property's
        first = scene.frame_start  # row 0 is keyed here
        settings = ops_refine.RefineSettings(opts["method"], first + start, first + end, opts["blend"],
                                             scene.motion_refine.strength, opts["device"], dict(opts["params"]))
        graph = Path(review.graph_path(obj.name))
        graph.unlink(missing_ok=True)  # so a graph that was not drawn is not an older one
        row["metrics"] = ops_refine.refine_object(obj, settings)
        ops_export.export_object(obj, staging.add(finals["output"]))
        if "plot" in finals:
            if not graph.is_file():
                raise BadInputError(src, "the before/after graph was not drawn (is matplotlib installed?)")
            shutil.copyfile(graph, staging.add(finals["plot"]))
        if "blend" in finals:
            bpy.ops.wm.save_as_mainfile(filepath=str(staging.add(finals["blend"])), copy=True, check_existing=False)
        staging.commit()
        row.update({"status": "ok", "frames": motion.num_frames, "fps": motion.fps, "rows": [start, end]},
                   **{key: str(path) for key, path in finals.items()})
    except Exception as err:
        staging.discard()
        row["metrics"] = None
        row["error"] = str(err) if isinstance(err, BadInputError) else " ".join(
            f"{src}: {type(err).__name__}: {err}".split())  # one line, as BadInputError's
    except BaseException:
        staging.discard()
        raise
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row


def run_items(items, opts, standalone: bool, on_row):
    """Refine ``items`` ([{input, name}]) in this process, one after the other.
    ``standalone``: register the loaded package ourselves (script/worker);
    otherwise the installed add-on is already registered (``blender -c``)."""
    import bpy

    from .. import register, unregister
    from . import prefs

    protected = set(opts.get("protected") or [os.path.realpath(i["input"]) for i in items])
    own_tmp = tempfile.mkdtemp(prefix="motion_refine_batch_")
    saved_tmp, tempfile.tempdir = tempfile.tempdir, own_tmp  # graphs per process: workers never share one
    if standalone:
        bpy.ops.wm.read_factory_settings(use_empty=True)  # also disables an installed copy for this session
        register()
        prefs.ensure_addon_entry(bpy.context)
    try:
        for item in items:
            on_row(refine_file(item, opts, protected))
    finally:
        tempfile.tempdir = saved_tmp
        shutil.rmtree(own_tmp, ignore_errors=True)
        if standalone:
            unregister()


# ---------------------------------------------------------------- parallel workers
def worker_command(plan_path: Path) -> list:
    """This script on a plan, in Blender (-b) or in this Python (bpy module)."""
    import bpy

    script = str(Path(__file__).resolve())
    if bpy.app.binary_path:
        return [bpy.app.binary_path, "-b", "--factory-startup", "--python-exit-code", str(EXIT_INTERNAL),
                "--python", script, "--", "--worker", str(plan_path)]
    return [sys.executable, script, "--", "--worker", str(plan_path)]


def run_worker(plan_path) -> int:
    """Internal: refine a plan's items, one protocol line per row on stdout."""
    plan = json.loads(Path(plan_path).read_text())

    def emit(row):
        sys.stdout.write(ROW_TAG + json.dumps(row) + "\n")
        sys.stdout.flush()

    run_items(plan["items"], plan["options"], standalone=True, on_row=emit)
    return EXIT_OK


def run_parallel(items, opts, jobs: int, on_row):
    """Split ``items`` round-robin over ``jobs`` worker processes; rows come
    back as they finish. A worker that dies fails its unfinished items."""
    plan_dir = Path(tempfile.mkdtemp(prefix="motion_refine_plan_"))
    rows, procs = queue.Queue(), []
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // jobs)))
    try:
        for w in range(jobs):
            chunk = items[w::jobs]
            plan = plan_dir / f"worker{w}.json"
            plan.write_text(json.dumps({"options": opts, "items": chunk}))
            proc = subprocess.Popen(worker_command(plan), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    env=env, text=True, errors="replace")
            thread = threading.Thread(target=_read_worker, args=(proc, chunk, rows), daemon=True)
            thread.start()
            procs.append((proc, thread))
        for _ in items:
            on_row(rows.get())
    except BaseException:  # interrupted: stop the workers, their temp files go with them
        for proc, _ in procs:
            proc.kill()
        raise
    finally:
        for proc, thread in procs:
            proc.wait()
            thread.join()
        shutil.rmtree(plan_dir, ignore_errors=True)


def _read_worker(proc, chunk, rows):
    """Forward a worker's rows; on exit, fail whatever it did not report."""
    done, tail = set(), []
    for line in proc.stdout:
        at = line.find(ROW_TAG)  # Blender's own prints may share the pipe (even the line)
        if at < 0:
            tail = (tail + [line.rstrip()])[-5:]
            continue
        row = json.loads(line[at + len(ROW_TAG):])
        done.add(row["input"])
        rows.put(row)
    code = proc.wait()
    for item in chunk:
        if item["input"] not in done:
            last = f"; last output: {tail[-1]}" if tail else ""
            rows.put({"input": item["input"], "status": "failed", "output": None, "metrics": None,
                      "error": f"{item['input']}: worker process exited with code {code} before this file{last}"})


# ---------------------------------------------------------------- main
class Progress:
    """One line per finished file with the ETA (stderr)."""

    def __init__(self, total: int):
        self.total, self.done, self.t0 = total, 0, time.perf_counter()

    def __call__(self, row):
        self.done += 1
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.done * (self.total - self.done)
        if row["status"] == "ok":
            m = row["metrics"]
            what = (f"ok      {row['input']} -> {Path(row['output']).name}  accel {m['accel_mean_before']:.1f} -> "
                    f"{m['accel_mean_after']:.1f} mm/frame^2")
        else:
            what = f"FAILED  {row['error']}"
        print(f"[{self.done}/{self.total}] {what}  ({row.get('seconds', 0):.1f} s, ETA {eta:.0f} s)",
              file=sys.stderr, flush=True)


def main(argv=None, standalone: bool = True) -> int:
    """The batch; returns the exit code. ``argv`` without the program name
    (a leading ``--`` is ignored). ``standalone=False`` when the add-on is
    already registered (``blender -c motion_refine``)."""
    argv = strip_separator(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"] and len(argv) == 2:
        return run_worker(argv[1])
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed the message; -c must not exit Blender here
        return EXIT_OK if exc.code in (0, None) else EXIT_BAD_ARGS
    try:
        opts = check_options(args)
        found = find_inputs(args.inputs)
        check_out_folder(Path(opts["out"]))
        report = Path(args.report).absolute() if args.report else None
        if report is not None and not report.parent.is_dir():
            raise ArgumentError(f"{args.report}: the report's folder does not exist")
    except ArgumentError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_ARGS
    items = [{"input": str(p), "name": n} for (p, _), n in zip(found, output_names(found))]
    protected = sorted({os.path.realpath(i["input"]) for i in items})
    if report is not None:
        protected_report = os.path.realpath(report)
        if protected_report in protected:
            print(f"error: {args.report}: the report would overwrite an input file", file=sys.stderr)
            return EXIT_BAD_ARGS
    opts["protected"] = protected
    jobs = min(args.jobs, len(items))
    progress, results = Progress(len(items)), {}

    def on_row(row):
        results[row["input"]] = row
        progress(row)

    try:
        if jobs > 1:
            run_parallel(items, opts, jobs, on_row)
        else:
            run_items(items, opts, standalone, on_row)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERNAL
    rows = [results[i["input"]] for i in items]
    failed = sum(r["status"] != "ok" for r in rows)
    seconds = time.perf_counter() - progress.t0
    summary = {"total": len(rows), "ok": len(rows) - failed, "failed": failed, "seconds": round(seconds, 3),
               "files_per_second": round(len(rows) / seconds, 3) if seconds > 0 else None, "jobs": jobs,
               "out": opts["out"], **{k: opts[k] for k in ("method", "start", "end", "blend", "strength",
                                                             "device", "params")}}
    if report is not None:
        write_json_atomic({"files": rows, "summary": summary}, report)
    print(f"{len(rows)} files: {len(rows) - failed} ok, {failed} failed in {seconds:.1f} s "
          f"({summary['files_per_second']} files/s)" + (f"; report: {args.report}" if report else ""), flush=True)
    return EXIT_FAILED if failed else EXIT_OK


# ---------------------------------------------------------------- blender -c motion_refine
_cli_handle = None


def cli_main(argv) -> int:
    """``blender -c motion_refine ...``: the installed add-on runs the batch."""
    return main(list(argv), standalone=False)


def register_cli():
    """Register ``motion_refine`` as a Blender command (4.2+; a no-op before)."""
    global _cli_handle
    import bpy

    if _cli_handle is None and hasattr(bpy.utils, "register_cli_command"):
        _cli_handle = bpy.utils.register_cli_command(CLI_COMMAND, cli_main)


def unregister_cli():
    global _cli_handle
    import bpy

    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None


# ---------------------------------------------------------------- as a script
def _run_as_script() -> int:
    """Load the repository root as the package (any checkout folder name)
    and run the package's ``main``."""
    import importlib.util

    here = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location("_motion_refine_bootstrap", here / "_bootstrap.py")
    bootstrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bootstrap)
    package = bootstrap.load_package(here.parent)
    from importlib import import_module

    return import_module(package.__name__ + ".addon.batch").main(standalone=True)


if __name__ == "__main__":
    sys.exit(_run_as_script())
