"""Command line: ``python -m refine_core refine|info|eval|bench|train|methods ...``.

Exit codes (refine_core.errors): 0 done, 2 bad input or arguments (one line
on stderr naming the file and the problem, no output file written), 1
internal error or interrupted (Ctrl-C, or SIGTERM as ``timeout``, systemd
and CI send it: the same clean stop, no temporary file left). A reader that
stops reading stdout (``info X --json | head -1``) is a normal end.
Warnings of numpy, scipy and torch are not printed; InputWarnings
(something about the input that changed what was written) are, as
``warning: ...`` lines after a successful run.
"""
import argparse
import json
import os
import signal
import sys
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, BadInputError, InputWarning, Terminated


def _methods_table() -> str:
    from .refiners import METHODS

    lines = []
    for m in METHODS.values():
        state = "ready" if m.available else "no weights yet"
        lines.append(f"  {m.name:<12} {m.kind:<9} {state:<15} {m.description}")
        if m.available:
            params = ", ".join(f"{p.name}={p.default} ({p.allowed()})" for p in m.params())
            lines.append(f"  {'':<12} {'':<9} {'':<15} --param {params}")
    return "methods:\n" + "\n".join(lines)


def _print(*values):
    """print() to stdout. A reader that has gone (``| head``) is a normal end, not an
    error: the rest goes to devnull, as Python's documentation recommends."""
    try:
        print(*values, flush=True)
    except BrokenPipeError:
        _to_devnull(sys.stdout)


def _to_devnull(stream):
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError):  # not a real file (captured in-process): nothing to redirect
        pass


def _print_err(line: str):
    try:
        print(line, file=sys.stderr, flush=True)
    except BrokenPipeError:  # nobody reads stderr either: nothing more can be said
        _to_devnull(sys.stderr)


def _identity(path):
    """(inode, mtime) of the file at ``path``, None if there is none: a replaced file has another."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def check_refined(refined, method: str, source=None):
    """A refinement whose result holds NaN or inf is the method's failure, not
    the input file's: say so (RuntimeError, an internal error) before
    anything is written."""
    from .motion import frames_text, nonfinite_frames

    bad = nonfinite_frames(np.asarray(refined.rotations), np.asarray(refined.trans))
    if bad.size:
        of = f" of {source}" if source else ""
        raise RuntimeError(f"method {method} produced NaN or infinite values at frame(s) {frames_text(bad)}{of}; "
                           "nothing was written (a failure of the method, not of the file)")


@contextmanager
def sigterm_raises():
    """Within the block SIGTERM raises Terminated (a KeyboardInterrupt) in the main
    thread, so a write in progress is cleaned up as for Ctrl-C. A second SIGTERM
    while that cleanup runs is ignored. No-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated(f"signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_methods(args):
    _print(_methods_table())
    return EXIT_OK


def cmd_refine(args):
    from .atomic import check_destination
    from .formats import read_motion, write_npz
    from .motion import check_fps
    from .refiners import check_request, refine

    if args.method in ("list", "help"):
        return cmd_methods(args)
    check_request(args.method, args.blend, args.strength, args.device, args.param)  # before any file is read
    if args.fps is not None:
        check_fps(args.fps, f"--fps {args.fps:g}")
    src = Path(args.input)
    out = check_destination(args.output)  # before any work: a bad -o path fails in a second, not after the refinement
    before = _identity(out)
    args.written = lambda: _identity(out) != before
    if out.exists() and src.exists() and out.resolve() == src.resolve():
        raise BadInputError(out, "output would overwrite the input file; choose another -o path")
    motion = read_motion(src, track=args.track, fps=args.fps)
    refined = refine(
        motion, args.method, frame_range=(args.start, args.end), blend=args.blend,
        strength=args.strength, device=args.device, params=args.param,
        feet=args.feet, feet_params=args.feet_params,
    )
    check_refined(refined, args.method, src)
    write_npz(refined, args.output)
    start, end = refined.meta["refined_range"]
    _print(f"refined {src} frames {start}..{end} with {args.method} -> {out}")
    return EXIT_OK


def cmd_info(args):
    from .formats import describe
    from .motion import check_fps

    if args.fps is not None:
        check_fps(args.fps, f"--fps {args.fps:g}")
    info = describe(Path(args.input), fps=args.fps)
    if args.json:
        _print(json.dumps(info, indent=2, default=_json_default))
    else:
        for key, value in info.items():
            _print(f"{key}: {value}")

    return EXIT_OK


def cmd_eval(args):
    from .formats import read_motion
    from .metrics import evaluate

    pred, gt = read_motion(Path(args.pred)), read_motion(Path(args.gt))
    if args.model:
        from .smpl_model import load_smpl_model

        model = load_smpl_model(args.model)
        pred.skeleton = gt.skeleton = model.skeleton(gt.betas)
    metrics = evaluate(pred, gt)
    if args.model:
        from .metrics import mpve
        from .smpl_model import posed_vertices

        metrics["mpve"] = mpve(posed_vertices(model, pred), posed_vertices(model, gt))
    if args.json:
        _print(json.dumps({k: float(v) for k, v in metrics.items()}, indent=2))
    else:
        for key, value in metrics.items():
            _print(f"{key:>16}: {value:9.3f}")
    return EXIT_OK


def cmd_bench(args):
    from .bench import PRESETS, TEST_PRESETS, lofo_presets, markdown, run_bench

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    log = (lambda msg: print(msg, file=sys.stderr)) if args.verbose else None
    presets = args.presets or (PRESETS if args.split == "val" else TEST_PRESETS + lofo_presets())
    if presets == ["all"]:
        presets = TEST_PRESETS + lofo_presets()
    elif presets == ["lofo"]:
        presets = lofo_presets()
    rows = run_bench(methods=args.methods, presets=presets, quick=args.quick, seed=args.seed, log=log, split=args.split,
                     feet=args.feet)
    _print(json.dumps(rows, indent=2) if args.json else markdown(rows))
    if args.write:
        from .atomic import atomic_write
        from .bench import results_page

        with atomic_write(args.write, text=True) as f:
            f.write(results_page(rows, " ".join(["python -m refine_core", *sys.argv[1:]]), args.seed, args.split))
    return EXIT_OK


def cmd_train(args):
    from .train.loop import declaration, train_method

    method = declaration(args.method)  # a clear error before any data is read
    loss_overrides = _loss_overrides(method, args.loss or [])
    clips = None
    if args.data:
        from .train.data import load_amass_folder, load_cmu

        data = Path(args.data)
        if not data.is_dir():
            raise BadInputError(data, "training data must be a folder (CMU BVH subjects or AMASS .npz files)")
        clips = load_cmu(root=data, split="train") if any(data.rglob("*.bvh")) else load_amass_folder(data)
        if not clips:
            raise BadInputError(data, "no training motions found in this folder")
    train_method(args.method, out=args.out, clips=clips, steps=args.steps, seed=args.seed, loss_overrides=loss_overrides)
    return EXIT_OK


def _loss_overrides(method, items) -> dict:
    """``--loss key=value`` items as {key: float}, each a keyword of the recipe's loss."""
    import inspect

    known = list(inspect.signature(method.recipe.loss).parameters)[3:]  # after model, batch, rest_joints
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise BadInputError(f"--loss {item}", f"expected KEY=VALUE with KEY one of: {', '.join(known)}")
        try:
            overrides[key] = float(value)
        except ValueError:
            raise BadInputError(f"--loss {item}", f"{value!r} is not a number") from None
    return overrides


def cmd_batch(args):
    from .batch import cmd_batch

    return cmd_batch(args)


def cmd_worker(args):
    from .worker import run

    run(args.job, args.output)
    return EXIT_OK


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def add_refine_options(p: argparse.ArgumentParser):
    """The refinement options shared by ``refine`` and the batch (addon/batch.py)."""
    p.add_argument("--method", required=True, help="method name (`python -m refine_core methods` lists them)")
    p.add_argument("--start", type=int, default=None, help="first frame (0-based row, inclusive; default 0)")
    p.add_argument("--end", type=int, default=None, help="last frame (0-based row, inclusive; default: the last)")
    p.add_argument("--blend", type=int, default=0, help="frames cross-faded (slerp) inside each range edge")
    p.add_argument("--strength", type=float, default=1.0, help="0 keeps the input, 1 fully refined")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="method parameter, e.g. cutoff_hz=4 (repeatable; or one JSON object); see `methods`")
    p.add_argument("--feet", default="off", choices=["off", "lock"],
                   help="lock planted feet after refining (docs/methods/feet.md)")
    p.add_argument("--feet-param", action="append", dest="feet_params", metavar="KEY=VALUE",
                   help="foot-lock parameter, e.g. lock_radius=0.05")
    p.add_argument("--fps", type=float, default=None, metavar="F",
                   help="the motion's frame rate, replacing the file's (files without one get 30); written into the output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="refine-motion", description="Refine noisy SMPL body motion.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("refine", help="refine a motion file", epilog="methods: see `refine-motion methods`")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    add_refine_options(p)
    p.add_argument("--track", default=None, help="track/person id for multi-track files (default: longest)")
    p.set_defaults(func=cmd_refine)

    p = sub.add_parser("info", help="what a motion file holds")
    p.add_argument("input")
    p.add_argument("--json", action="store_true")
    p.add_argument("--fps", type=float, default=None, metavar="F", help="the motion's frame rate, replacing the file's")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("eval", help="metrics of a prediction against ground truth")
    p.add_argument("pred")
    p.add_argument("gt")
    p.add_argument("--json", action="store_true")
    p.add_argument("--model", help="SMPL model file (.pkl/.npz): FK on its rest joints, adds MPVE")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="every available method on the validation or test split")
    p.add_argument("--split", choices=("val", "test"), default="val",
                   help="val: CMU 001 + 007, the published table (default); test: the held-out performers of every rig")
    p.add_argument("--quick", action="store_true", help="first frames of each clip only")
    p.add_argument("--json", action="store_true")
    p.add_argument("--methods", nargs="+", help="methods to run (default: every available one)")
    p.add_argument("--presets", nargs="+",
                   help="noise presets or lofo:<family>; 'all': clean modern vibe_like heavy and every lofo:<family>; "
                        "'lofo': the lofo ones (default: mild vibe_like heavy with --split val, all with test)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0, help="corruption seed (default 0: the published table)")
    p.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    p.add_argument("--feet", action="store_true",
                   help="add foot metrics and a '+ feet lock' row per method, and the clean motion's own feet")
    p.add_argument("--write", metavar="MD", help="also write the table with the command and machine (docs/results.md)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("train", help="train a learned method and write its weights file")
    p.add_argument("method")
    p.add_argument("--data", help="folder of CMU-style BVH subjects or AMASS .npz files (default: ../shared CMU split)")
    p.add_argument("--steps", type=int, help="optimiser steps (default: the method's recipe)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="weights file (default: refine_core/weights/<method>.pt)")
    p.add_argument("--loss", action="append", metavar="KEY=VALUE",
                   help="a loss parameter other than the recipe's, e.g. accel_weight=2 (repeatable; ablations)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("batch", help="refine many files (local worker processes or a Ray cluster; docs/batch.md)",
                       epilog="Exit codes: 0 all ok, 3 any file failed, 2 bad arguments, 1 interrupted.")
    add_refine_options(p)
    from .batch import add_batch_arguments

    add_batch_arguments(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("methods", help="list refinement methods and whether they can run")
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("worker", help="refine a job file for the Blender add-on's External Python (refine_core/worker.py)")
    p.add_argument("job", help="job .npz written by refine_core.worker.write_job")
    p.add_argument("output", help="result .npz")
    p.set_defaults(func=cmd_worker)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.written = None  # refine: whether the output was replaced (an interruption's message)
    with warnings.catch_warnings(record=True) as caught, sigterm_raises():
        warnings.simplefilter("default")
        try:
            code = args.func(args)
        except BadInputError as err:
            _print_err(f"error: {err}")
            return EXIT_BAD_INPUT
        except KeyboardInterrupt as err:
            how = str(err) if isinstance(err, Terminated) else "Ctrl-C"
            done = "" if args.written is None else (f"; after writing {args.output}" if args.written()
                                                     else "; nothing was written")
            _print_err(f"interrupted ({how}){done}")
            return EXIT_INTERNAL
        except Exception as err:  # a bug, not the user's input: say so, keep the trace short
            _print_err(f"internal error: {type(err).__name__}: {err}")
            return EXIT_INTERNAL
    # The one-line contract holds on errors; after a success, say what changed the output.
    for w in caught:
        if issubclass(w.category, InputWarning):
            _print_err(f"warning: {w.message}")
    return code
