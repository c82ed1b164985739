"""Leave-one-family-out in the strict sense: a learned method trained without
noise family X, scored on X (the ``lofo:X`` preset of bench: X at vibe_like
level over the modern preset) beside the shipped model, which saw X, and the
best classical filter on the same noisy clips.

    .venv/bin/python tools/lofo_strict.py train --method tcn [--families white bias]
    .venv/bin/python tools/lofo_strict.py score --method tcn [--split test] [--json runs/lofo/tcn.json]

Weights go to runs/lofo/<method>-without-<family>.pt (seed 0, the method's own
recipe with the family excluded from every training window); ``train`` skips
a family whose weights are there. Run two ``train`` processes on disjoint
``--families`` to use both cores (each trains with one thread).
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from refine_core.bench import LOFO, bench_clips, corrupted_clips, method_spec, score  # noqa: E402
from refine_core.refiners import METHODS, refine  # noqa: E402
from refine_core.train.loop import train_method  # noqa: E402
from refine_core.train.noise import FAMILIES  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "runs" / "lofo"
METRICS = ("mpjpe", "pa_mpjpe", "accel_error", "mpjpe_corrupted", "root_error", "root_accel_error")


def weights_file(method: str, family: str) -> Path:
    return OUT / f"{method}-without-{family}.pt"


def train(method: str, families) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for family in families:
        path = weights_file(method, family)
        if path.exists():
            print(f"{path} exists, skipped")
            continue
        train_method(method, out=path, seed=0, pair_overrides={"exclude_families": (family,)},
                     log=lambda line, f=family: print(f"[{f}] {line}", flush=True))


def score_rows(method: str, families, split: str, filters) -> list:
    clips = bench_clips(split)
    rows = []
    for family in families:
        triples = corrupted_clips(clips, LOFO + family, seed=0)
        entries = {"noisy input": score(triples)}
        entries[f"{method} (shipped, saw {family})"] = score(triples, lambda m: refine(m, method, device="cpu"))
        path = weights_file(method, family)
        entries[f"{method} trained without {family}"] = score(
            triples, lambda m, p=path: METHODS[method].declaration().refine(m, device="cpu", weights=p))
        for entry in filters:
            name, params = method_spec(entry)
            entries[entry] = score(triples, lambda m, n=name, p=params: refine(m, n, params=p or None))
        for label, row in entries.items():
            rows.append({"family": family, "method": label, **{k: row[k] for k in METRICS}})
            print(f"{family:>12} {label:<36} " + "  ".join(f"{k} {row[k]:.2f}" for k in METRICS), flush=True)
    return rows


def table(rows, method: str) -> str:
    """Markdown: per family MPJPE / PA-MPJPE / accel error of the input, both
    models and the best filter (per metric); root error / root accel error too
    for the root families, whose pose metrics cannot see them."""
    keys = ("mpjpe", "pa_mpjpe", "accel_error")
    lines = [f"| family | input | {method} shipped (saw it) | {method} trained without it | best filter (per metric) |",
             "|---|---|---|---|---|"]
    for family in dict.fromkeys(r["family"] for r in rows):
        here = [r for r in rows if r["family"] == family]
        keys_here = keys + (("root_error", "root_accel_error") if family.startswith("root_") else ())
        models = [r for r in here if r["method"].startswith(method)]
        filters = [r for r in here if r not in models and r["method"] != "noisy input"]
        cells = [" / ".join(f"{r[k]:.2f}" for k in keys_here)
                 for r in (next(r for r in here if r["method"] == "noisy input"), *models)]
        best = " / ".join(f"{min(r[k] for r in filters):.2f}" for k in keys_here)
        lines.append(f"| {family} | " + " | ".join(cells) + f" | {best} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("train", "score"))
    parser.add_argument("--method", required=True, choices=[n for n, m in METHODS.items() if m.kind == "learned"])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument("--filters", nargs="+", default=["gaussian", "gaussian:sigma_frames=1.5", "butterworth", "savgol",
                                                         "oneeuro", "oneeuro:min_cutoff=2.0", "slerp",
                                                         "gaussian:sigma_frames=0.75", "butterworth:cutoff_hz=6.0",
                                                         "savgol:window=5,polyorder=2", "slerp:step=2"],
                        help="filters to compare with (name or name:key=value,...; default: every tuning of "
                             "docs/methods/classical.md, as docs/results.md)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    if args.action == "train":
        train(args.method, args.families)
        return
    rows = score_rows(args.method, args.families, args.split, args.filters)
    print(table(rows, args.method))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
