"""``python -m refine_core bench``: every available method on the validation split.

For each noise preset, validation clips are corrupted with a fixed seed and
every method refines them; the table reports MPJPE, PA-MPJPE, accel error,
accel, MPJPE on corrupted frames and frames per second (refinement only,
this machine), with the noisy input as a row. Metrics are frame-weighted
means over clips. With ``feet``, also foot sliding, ground penetration and
contact F1 (refine_core.feet.feet_metrics), a "+ feet lock" row after each
method and the clean motion's own feet as a row.
"""
import time

import numpy as np

from .feet import feet_metrics
from .metrics import evaluate

PRESETS = ("mild", "vibe_like", "heavy")
COLUMNS = ("mpjpe", "pa_mpjpe", "accel_error", "accel", "mpjpe_corrupted", "fps")
FEET_COLUMNS = ("foot_sliding", "penetration", "penetration_depth", "contact_f1")
QUICK_FRAMES = 600  # per clip with --quick


def corrupted_clips(clips, preset: str, seed: int = 0):
    """[(clean, noisy, mask)] with one fixed generator: the same corruption every run."""
    from .train.noise import corrupt

    rng = np.random.default_rng(seed)
    return [(clean, *corrupt(clean, preset, rng)) for clean in clips]


def score(triples, run=None, feet=False) -> dict:
    """Frame-weighted metrics of ``run(noisy) -> Motion`` (None: the noisy input
    itself); ``feet`` adds the foot metrics."""
    totals, weights, frames, seconds = {}, {}, 0, 0.0
    for clean, noisy, mask in triples:
        if run is None:
            pred = noisy
        else:
            t0 = time.perf_counter()
            pred = run(noisy)
            seconds += time.perf_counter() - t0
        metrics = evaluate(pred, clean, mask=mask)
        if feet:
            metrics.update(feet_metrics(pred, clean))
        counts = {"mpjpe_corrupted": int(mask.sum()), "accel_error": clean.num_frames - 2, "accel": clean.num_frames - 2}
        for key, value in metrics.items():
            n = counts.get(key, clean.num_frames)
            if n and np.isfinite(value):
                totals[key] = totals.get(key, 0.0) + value * n
                weights[key] = weights.get(key, 0) + n
        frames += clean.num_frames
    row = {k: totals[k] / weights[k] for k in totals}
    row["fps"] = frames / seconds if seconds else float("nan")
    return row


def run_bench(methods=None, presets=PRESETS, quick=False, seed=0, log=None, feet=False) -> list:
    """Rows of {preset, method, params, metrics...} for each preset and method
    (with ``feet``: foot metrics, "+ feet lock" rows and a "clean motion" row)."""
    from .refiners import METHODS, available_methods, refine
    from .train.data import load_cmu

    clips = load_cmu(split="val")
    if quick:
        clips = [c.slice(0, min(c.num_frames, QUICK_FRAMES)) for c in clips]
    methods = methods or available_methods()
    rows = []
    for preset in presets:
        triples = corrupted_clips(clips, preset, seed)
        if feet:
            clean_row = score([(clean, clean, mask) for clean, _, mask in triples], feet=True)
            rows.append({"preset": preset, "method": "clean motion", "params": "", **clean_row})
        rows.append({"preset": preset, "method": "noisy input", "params": "", **score(triples, feet=feet)})
        for name in methods:
            spec = METHODS[name]
            params = ", ".join(f"{k}={v}" for k, v in spec.defaults.items())
            for lock in ("off", "lock") if feet else ("off",):
                row = score(triples, lambda m, name=name, lock=lock: refine(m, name, device="cpu", feet=lock), feet=feet)
                label = name if lock == "off" else f"{name} + feet lock"
                rows.append({"preset": preset, "method": label, "params": params, **row})
                if log:
                    log(f"{preset:>9} {label:<24} accel_error {row['accel_error']:.2f} mpjpe {row['mpjpe']:.2f}")
    return rows


def markdown(rows) -> str:
    feet = any("foot_sliding" in r for r in rows)
    head = "| preset | method | MPJPE | PA-MPJPE | accel err | accel | MPJPE corrupted | frames/s |"
    if feet:
        head += " foot slide | penetration % | contact F1 |"
    head += " params |"
    lines = [head, "|" + "---|" * (12 if feet else 9)]
    for r in rows:
        fps = "" if np.isnan(r["fps"]) else f"{r['fps']:,.0f}"
        line = (
            f"| {r['preset']} | {r['method']} | {r['mpjpe']:.1f} | {r['pa_mpjpe']:.1f} | {r['accel_error']:.2f} | "
            f"{r['accel']:.2f} | {r.get('mpjpe_corrupted', float('nan')):.1f} | "
            f"{fps} |"
        )
        if feet:
            line += (f" {r.get('foot_sliding', float('nan')):.2f} | {100 * r.get('penetration', float('nan')):.2f} | "
                     f"{r.get('contact_f1', float('nan')):.3f} |")
        lines.append(line + f" {r['params']} |")
    return "\n".join(lines)


def results_page(rows, command: str, seed: int = 0) -> str:
    """docs/results.md: the table with the command, the machine and the date."""
    import datetime
    import os
    import platform

    import torch

    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} ({'CUDA' if torch.cuda.is_available() else 'CPU'})"
    return (
        "# Measured results\n\n"
        f"Command: `{command}`  \nMachine: {machine}  \nDate: {datetime.date.today().isoformat()}\n\n"
        f"Validation split (CMU subjects 001 and 007, 30 fps) corrupted by each noise preset with seed {seed}\n"
        "(refine_core.train.noise); MPJPE and PA-MPJPE in mm, accel error and accel in mm/frame^2\n"
        "(pelvis-aligned FK joints, DESIGN.md section 6); MPJPE corrupted: frames hit by a spike or an\n"
        "occlusion burst only; frames/s: refinement alone on this machine, clip by clip. Classical\n"
        "filters use the parameters tuned on the training split (refine_core/weights/classical.json).\n\n"
        + markdown(rows) + "\n"
    )
