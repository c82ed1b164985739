"""``python -m refine_core bench``: every available method on the validation or test split.

For each noise preset, the split's clips are corrupted with a fixed seed and
every method refines them; the table reports MPJPE, PA-MPJPE, accel error,
velocity error, accel, MPJPE on corrupted frames and frames per second
(refinement only, this machine), with the noisy input as a row. Metrics are
frame-weighted means over clips.

Splits: "val" (default: the CMU validation subjects 001 and 007, the
published table) and "test" (the held-out performers of every rig,
train/dataset.py; for the final results only, never for choosing a recipe).
Presets: the noise model's (clean, modern, mild, vibe_like, heavy) and
``lofo:<family>``, one noise family at vibe_like level over the modern
preset, the test of a model trained without that family. With ``feet``,
also foot sliding, ground penetration and contact F1 (refine_core.feet.feet_metrics),
a "+ feet lock" row after each method and the clean motion's own feet as a row.
"""
import time

import numpy as np

from .feet import feet_metrics
from .metrics import evaluate

PRESETS = ("mild", "vibe_like", "heavy")  # the validation table's
TEST_PRESETS = ("clean", "modern", "vibe_like", "heavy")
LOFO = "lofo:"
COLUMNS = ("mpjpe", "pa_mpjpe", "accel_error", "velocity_error", "accel", "mpjpe_corrupted", "root_error",
           "root_accel_error", "fps")
FEET_COLUMNS = ("foot_sliding", "penetration", "penetration_depth", "contact_f1")
QUICK_FRAMES = 600  # per clip with --quick
SPLITS = ("val", "test")


def lofo_presets() -> tuple:
    """``lofo:<family>`` for every noise family."""
    from .train.noise import FAMILIES

    return tuple(LOFO + f for f in FAMILIES)


def preset_config(preset: str):
    """A noise preset name or ``lofo:<family>`` as what noise.corrupt takes."""
    if isinstance(preset, str) and preset.startswith(LOFO):
        from .train.noise import family_config

        return family_config(preset[len(LOFO):])
    return preset


def corrupted_clips(clips, preset: str, seed: int = 0):
    """[(clean, noisy, mask)] with one fixed generator: the same corruption every run."""
    from .train.noise import corrupt

    rng = np.random.default_rng(seed)
    config = preset_config(preset)
    return [(clean, *corrupt(clean, config, rng)) for clean in clips]


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
        n = clean.num_frames
        counts = {"mpjpe_corrupted": int(mask.sum()), "accel_error": n - 2, "accel": n - 2, "velocity_error": n - 1,
                  "root_accel_error": n - 2}
        if feet:
            metrics.update(feet_metrics(pred, clean))
        for key, value in metrics.items():
            weight = counts.get(key, n)
            if weight and np.isfinite(value):
                totals[key] = totals.get(key, 0.0) + value * weight
                weights[key] = weights.get(key, 0) + weight
        frames += n
    row = {k: totals[k] / weights[k] for k in totals}
    row["fps"] = frames / seconds if seconds else float("nan")
    return row


def bench_clips(split: str = "val") -> list:
    """The clean clips of a split at 30 fps: "val" the CMU validation subjects
    (as the published table), "test" every source's test performers."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    from .train.dataset import load_clips, load_cmu

    return load_cmu(split="val") if split == "val" else load_clips("test")


def method_spec(spec: str) -> tuple:
    """``name`` or ``name:key=value,key=value`` (a method at other parameters, e.g.
    a filter at a previous tuning) -> (name, ["key=value", ...])."""
    name, _, params = spec.partition(":")
    return name, [p for p in params.split(",") if p]


def run_bench(methods=None, presets=PRESETS, quick=False, seed=0, log=None, split="val", feet=False) -> list:
    """Rows of {preset, method, params, metrics...} for each preset and method
    (with ``feet``: foot metrics, "+ feet lock" rows and a "clean motion" row).
    A method may be given as ``name:key=value,...`` (``method_spec``)."""
    from .refiners import available_methods, check_request, refine

    clips = bench_clips(split)
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
        for entry in methods:
            name, overrides = method_spec(entry)
            request = check_request(name, device="cpu", params=overrides)  # a clear error for a bad name or value
            params = ", ".join(f"{k}={v}" for k, v in {**request.method.defaults, **request.params}.items())
            for lock in ("off", "lock") if feet else ("off",):
                row = score(triples, lambda m, name=name, lock=lock, kw=overrides: refine(
                    m, name, device="cpu", feet=lock, params=kw or None), feet=feet)
                label = entry if lock == "off" else f"{entry} + feet lock"
                rows.append({"preset": preset, "method": label, "params": params, **row})
                if log:
                    log(f"{preset:>9} {label:<24} accel_error {row['accel_error']:.2f} mpjpe {row['mpjpe']:.2f}")
    return rows


def markdown(rows) -> str:
    feet = any("foot_sliding" in r for r in rows)
    head = ("| preset | method | MPJPE | PA-MPJPE | accel err | vel err | accel | MPJPE corrupted | root err | "
            "root accel err | frames/s |")
    if feet:
        head += " foot slide | penetration % | contact F1 |"
    head += " params |"
    lines = [head, "|" + "---|" * (15 if feet else 12)]
    for r in rows:
        fps = "" if np.isnan(r["fps"]) else f"{r['fps']:,.0f}"
        line = (
            f"| {r['preset']} | {r['method']} | {r['mpjpe']:.1f} | {r['pa_mpjpe']:.1f} | {r['accel_error']:.2f} | "
            f"{r.get('velocity_error', float('nan')):.2f} | {r['accel']:.2f} | {r.get('mpjpe_corrupted', float('nan')):.1f} | "
            f"{r.get('root_error', float('nan')):.1f} | {r.get('root_accel_error', float('nan')):.2f} | {fps} |"
        )
        if feet:
            line += (f" {r.get('foot_sliding', float('nan')):.2f} | {100 * r.get('penetration', float('nan')):.2f} | "
                     f"{r.get('contact_f1', float('nan')):.3f} |")
        lines.append(line + f" {r['params']} |")
    return "\n".join(lines)


VERDICT_METRICS = ("mpjpe", "pa_mpjpe", "accel_error")


def comparison(rows) -> str:
    """Per preset, each learned method against the best classical filter on each
    of MPJPE, PA-MPJPE and accel error (the best filter chosen per metric), and
    against the noisy input: a markdown table, "yes" only where it is lower."""
    from .refiners import METHODS

    lines = ["| preset | method | MPJPE (best filter) | PA-MPJPE (best filter) | accel err (best filter) | "
             "beats the best filter on all three | MPJPE at most the input's |", "|---|---|---|---|---|---|---|"]
    for preset in dict.fromkeys(r["preset"] for r in rows):
        here = [r for r in rows if r["preset"] == preset]
        kinds = {r["method"]: getattr(METHODS.get(method_spec(r["method"])[0]), "kind", None) for r in here}
        filters = [r for r in here if kinds[r["method"]] == "classical"]
        learned = [r for r in here if kinds[r["method"]] == "learned"]
        noisy = next((r for r in here if r["method"] == "noisy input"), None)
        if not filters or not learned:
            continue
        best = {k: min(filters, key=lambda r, k=k: r[k]) for k in VERDICT_METRICS}
        for r in learned:
            cells = [f"{r[k]:.2f} ({best[k][k]:.2f} {best[k]['method']})" for k in VERDICT_METRICS]
            wins = all(r[k] < best[k][k] for k in VERDICT_METRICS)
            # The clean preset's input is the target itself: nothing can be at most its 0 mm.
            no_worse = "" if noisy is None or noisy["mpjpe"] < 1e-6 else ("yes" if r["mpjpe"] <= noisy["mpjpe"] else "no")
            lines.append(f"| {preset} | {r['method']} | " + " | ".join(cells) + f" | {'yes' if wins else 'no'} | {no_worse} |")
    return "\n".join(lines)


def results_page(rows, command: str, seed: int = 0, split: str = "val") -> str:
    """docs/results.md: the table with the command, the machine and the date."""
    import datetime
    import os
    import platform

    import torch

    device = "CUDA" if torch.cuda.is_available() else "CPU"
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} ({device})"
    what = ("Validation split (CMU subjects 001 and 007, 30 fps)" if split == "val"
            else "Test split (the held-out performers of every rig, docs/data.md, 30 fps)")
    return (
        "# Measured results\n\n"
        f"Command: `{command}`  \nMachine: {machine}  \nDate: {datetime.date.today().isoformat()}\n\n"
        f"{what} corrupted by each noise preset with seed {seed}\n"
        "(refine_core.train.noise); MPJPE and PA-MPJPE in mm, accel error and accel in mm/frame^2,\n"
        "velocity error in mm/frame (pelvis-aligned FK joints); root err and root accel err: the\n"
        "world-space pelvis (the root translation), mm and mm/frame^2; MPJPE corrupted: frames hit by a\n"
        "spike, an occlusion burst or another burst family only; frames/s: refinement alone on this\n"
        "machine, clip by clip. Classical filters use the parameters tuned on the training split\n"
        "(refine_core/weights/classical.json).\n\n"
        + markdown(rows) + "\n\n"
        "Each learned method against the best filter of its preset (per metric) and the input:\n\n"
        + comparison(rows) + "\n"
    )
