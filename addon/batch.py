"""Headless batch refinement through real Blender (docs/batch.md).

    blender -b --python addon/batch.py -- IN... --out DIR --method M [options]
    python addon/batch.py -- IN... --out DIR --method M [options]     (bpy as a module)
    blender -c motion_refine IN... --out DIR --method M [options]     (extension installed, 4.2+)

The batch is the core's runner (``refine_core.batch``: inputs, output names,
path checks, all-or-none outputs, worker pool, progress, report, resume) with
a Blender processor: each input goes through Blender as the panel does:
``ops_import.read_input`` + ``import_motion`` (armature and keys),
``ops_refine.refine_object`` (the refine button's code),
``ops_export.export_object`` (the export operator's code); so the file the
batch writes is the file the button would write. The scene is reset to an
empty factory startup before each file. Blender-only extras: ``--plots``
(the add-on's before/after graph) and ``--save-blend``.

Exit codes: 0 all ok, 3 any file failed, 2 bad arguments (one line), 1
interrupted or internal error. ``--jobs N`` starts N worker processes (this
script with the internal ``--worker TASK_FD RESULT_FD`` arguments), each with
its own Blender, fed over its own pipes. See docs/batch.md.

Top-level imports are stdlib only: run as a script, this file first loads the
repository root as the package (``_bootstrap.load_package``) and then runs
``main`` from the package's copy of this module.
"""
import argparse
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

CLI_COMMAND = "motion_refine"
BLENDER_REFINE_OPTIONS = ("frame_range", "blend", "strength", "device", "params", "feet", "feet_params")  # RefineSettings'


# ---------------------------------------------------------------- arguments
def build_parser() -> argparse.ArgumentParser:
    from ..refine_core.batch import add_batch_arguments
    from ..refine_core.cli import add_refine_options

    p = argparse.ArgumentParser(
        prog="batch.py", description="Refine SMPL motion files headless through Blender.",
        epilog="Frames are 0-based rows of each file, inclusive. Exit codes: 0 all ok, 3 any failed, 2 bad arguments.")
    add_batch_arguments(p, ray=False)
    add_refine_options(p)
    p.add_argument("--plots", action="store_true", help="write <name>_accel.png (before/after graph) per input")
    p.add_argument("--save-blend", action="store_true", help="write <name>_refined.blend per input")
    return p


def strip_separator(argv):
    """Blender's argv -> ours: what follows the first ``--``; a leading ``--``
    alone (python addon/batch.py -- ...) is dropped too."""
    argv = list(argv)
    return argv[argv.index("--") + 1:] if "--" in argv else argv


def blender_request(args, parser) -> dict:
    """The core's request, refused (ArgumentError) when it sets an option the
    panel's settings do not have: every file goes through the panel's code."""
    from ..refine_core import batch as core

    request = core.refine_request(args)
    for group in ("read", "refine"):
        for name, value in request[group].items():
            if name not in BLENDER_REFINE_OPTIONS and value != parser.get_default(name):
                raise core.ArgumentError(f"--{name.replace('_', '-')}: not available in the Blender batch; "
                                         "use python -m refine_core batch")
    core.check_request(request)
    return request


def outputs_for(plots: bool, save_blend: bool):
    """The core's ``plan`` naming function for this batch's outputs."""
    def outputs(out: Path, name: str) -> dict:
        paths = {"output": out / f"{name}_refined.npz"}
        if plots:
            paths["plot"] = out / f"{name}_accel.png"
        if save_blend:
            paths["blend"] = out / f"{name}_refined.blend"
        return paths
    return outputs


# ---------------------------------------------------------------- one file in Blender
def reset_blender():
    """An empty factory scene; preferences and registered add-ons stay."""
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)


def refine_file(item: dict, opts: dict) -> dict:
    """Import, refine and export one input; returns its report row."""
    import bpy

    from ..refine_core.batch import attempt
    from ..refine_core.errors import BadInputError
    from ..refine_core.params import parse_params
    from ..refine_core.refiners import check_frame_range
    from . import ops_export, ops_import, ops_refine, review

    src, finals = item["input"], item["outputs"]
    request = opts["request"]
    row = {"input": src, "status": "failed", "error": None, "output": None, "metrics": None}
    with attempt(row) as staging:
        reset_blender()
        motion, model = ops_import.read_input(src)
        start, end = check_frame_range(motion, request["refine"]["frame_range"], src)
        obj = ops_import.import_motion(bpy.context, motion, Path(src).stem, model=model)
        scene = bpy.context.scene
        scene.motion_refine.strength = request["refine"]["strength"]  # the button's value is this float32 property's
        first = scene.frame_start  # row 0 is keyed here
        settings = ops_refine.RefineSettings(request["method"], first + start, first + end, request["refine"]["blend"],
                                             scene.motion_refine.strength, request["refine"]["device"],
                                             parse_params(request["refine"]["params"]), request["refine"]["feet"],
                                             dict(parse_params(request["refine"]["feet_params"]),
                                                  up_axis=ops_refine.world_up_axis(obj)))
        graph = Path(review.graph_path(obj.name))
        graph.unlink(missing_ok=True)  # so a graph that was not drawn is not an older one
        row["metrics"] = ops_refine.refine_object(obj, settings)
        with staging.writing(finals["output"]) as tmp:
            ops_export.export_object(obj, tmp)
        if "plot" in finals:
            if not graph.is_file():
                raise BadInputError(src, "the before/after graph was not drawn (is matplotlib installed?)")
            with staging.writing(finals["plot"]) as tmp:
                shutil.copyfile(graph, tmp)
        if "blend" in finals:
            with staging.writing(finals["blend"], keep_suffix=True) as tmp:  # Blender saves only .blend names
                bpy.ops.wm.save_as_mainfile(filepath=str(tmp), copy=True, check_existing=False)
        staging.commit()
        row.update({"status": "ok", "frames": motion.num_frames, "fps": motion.fps, "rows": [start, end]}, **finals)
    if row["status"] != "ok":
        row["metrics"] = None
    return row


@contextmanager
def blender_processor(opts: dict, standalone: bool):
    """The processor for the core's runner: ``refine_file`` in this Blender.
    ``standalone``: register the loaded add-on ourselves (script/worker);
    otherwise the installed add-on is already registered (``blender -c``)."""
    import bpy

    from . import prefs, register, unregister

    own_tmp = tempfile.mkdtemp(prefix="motion_refine_batch_")
    saved_tmp, tempfile.tempdir = tempfile.tempdir, own_tmp  # graphs per process: workers never share one
    if standalone:
        bpy.ops.wm.read_factory_settings(use_empty=True)  # also disables an installed copy for this session
        register()
        prefs.ensure_addon_entry(bpy.context)
    try:
        yield lambda item: refine_file(item, opts)
    finally:
        tempfile.tempdir = saved_tmp
        shutil.rmtree(own_tmp, ignore_errors=True)
        if standalone:
            unregister()


# ---------------------------------------------------------------- parallel workers
def worker_command() -> list:
    """This script as a worker, in Blender (-b) or in this Python (bpy
    module); the runner appends the two pipe fds."""
    import bpy

    from ..refine_core.errors import EXIT_INTERNAL

    script = str(Path(__file__).resolve())
    if bpy.app.binary_path:
        return [bpy.app.binary_path, "-b", "--factory-startup", "--python-exit-code", str(EXIT_INTERNAL),
                "--python", script, "--", "--worker"]
    return [sys.executable, script, "--", "--worker"]


def run_worker(task_fd: str, result_fd: str) -> int:
    """Internal: serve the parent's items over the two pipes."""
    from ..refine_core.batch import serve
    from ..refine_core.errors import EXIT_OK

    serve(int(task_fd), int(result_fd), lambda opts: blender_processor(opts, standalone=True))
    return EXIT_OK


# ---------------------------------------------------------------- main
def describe(row: dict) -> str:
    """A finished file on the progress line."""
    m = row["metrics"]
    return (f"ok      {row['input']} -> {Path(row['output']).name}  accel {m['accel_mean_before']:.1f} -> "
            f"{m['accel_mean_after']:.1f} mm/frame^2")


def main(argv=None, standalone: bool = True) -> int:
    """The batch; returns the exit code. ``argv`` without the program name
    (a leading ``--`` is ignored). ``standalone=False`` when the add-on is
    already registered (``blender -c motion_refine``)."""
    from ..refine_core import batch as core
    from ..refine_core.errors import EXIT_BAD_INPUT, EXIT_OK

    argv = strip_separator(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"] and len(argv) == 3:
        return run_worker(argv[1], argv[2])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed the message; -c must not exit Blender here
        return EXIT_OK if exc.code in (0, None) else EXIT_BAD_INPUT
    try:
        core.check_batch_arguments(args)
        request = blender_request(args, parser)
        items = core.plan(args.inputs, args.out, outputs_for(args.plots, args.save_blend), args.report, args.resume)
    except core.ArgumentError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    opts = {"request": request}
    jobs = min(args.jobs or 1, max(1, len(items)))

    def run_fn(todo, on_row):
        if jobs > 1:
            core.run_pool(todo, worker_command(), opts, jobs, on_row)
        else:
            with blender_processor(opts, standalone) as processor:
                core.run_serial(todo, processor, on_row)

    settings = {"mode": f"blender jobs {jobs}", "jobs": jobs, "out": str(Path(args.out).absolute()),
                "method": request["method"], **request["refine"], "plots": args.plots, "save_blend": args.save_blend}
    return core.finish(items, run_fn, settings, args.report, args.quiet, describe=describe)


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
