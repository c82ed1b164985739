"""The benchmark that judges every method: rows, metrics, the tuned classical filters."""
import json

import numpy as np
import pytest

from refine_core.bench import corrupted_clips, markdown, run_bench, score
from refine_core.refiners import refine
from refine_core.resources import TUNED_FILTERS_PATH
from refine_core.train.data import data_root, load_cmu

pytestmark = pytest.mark.skipif(not data_root().is_dir(), reason="CMU data folder (../shared/data) not found")


def test_bench_rows_and_table():
    rows = run_bench(methods=["gaussian", "butterworth"], presets=["vibe_like"], quick=True)
    assert [r["method"] for r in rows] == ["noisy input", "gaussian", "butterworth"]
    noisy = rows[0]
    for row in rows[1:]:
        assert row["accel_error"] < 0.5 * noisy["accel_error"]
        assert row["fps"] > 0 and np.isfinite(row["mpjpe"]) and np.isfinite(row["mpjpe_corrupted"])
    table = markdown(rows)
    assert table.count("\n") == 4 and "| vibe_like | gaussian |" in table


def test_corruption_is_fixed_by_seed():
    clips = load_cmu(split="val")[:2]
    a, b = corrupted_clips(clips, "vibe_like", 0), corrupted_clips(clips, "vibe_like", 0)
    assert all(np.array_equal(x[1].rotations, y[1].rotations) for x, y in zip(a, b, strict=False))
    assert score(a)["accel_error"] == score(b)["accel_error"]


def test_classical_defaults_are_the_parameters_tuned_on_the_training_split():
    """The registry runs each filter with the tuned parameters, and the numbers the
    tuning recorded come back when those parameters are scored on the training split."""
    from refine_core.train import tune_classical

    tuned = json.loads(TUNED_FILTERS_PATH.read_text())
    assert tuned["split"] == "train" and tuned["preset"] == tune_classical.PRESET
    clips = [c.slice(0, min(c.num_frames, tuned["frames_per_clip"])) for c in load_cmu(split="train")[:2]]
    triples = corrupted_clips(clips, tuned["preset"], tuned["seed"])
    for name in ("butterworth", "savgol"):
        params = tuned["methods"][name]["params"]
        by_default = score(triples, lambda m, name=name: refine(m, name))
        by_name = score(triples, lambda m, name=name, params=params: refine(m, name, params=params))
        assert by_default["mpjpe"] == by_name["mpjpe"] and by_default["accel_error"] == by_name["accel_error"]
        moved = {k: v + 1 for k, v in params.items()}
        assert score(triples, lambda m, name=name, moved=moved: refine(m, name, params=moved))["mpjpe"] != by_default["mpjpe"]


def test_cli_bench_seed_draws_another_corruption(tmp_path, capsys):
    """`bench --seed S` scores another corruption draw and says which in the written page."""
    from refine_core.cli import main

    rows = {}
    for seed in (0, 1):
        page = tmp_path / f"results_{seed}.md"
        assert main(["bench", "--quick", "--methods", "gaussian", "--presets", "mild", "--json",
                     "--seed", str(seed), "--write", str(page)]) == 0
        rows[seed] = json.loads(capsys.readouterr().out)
        assert f"with seed {seed}" in page.read_text()
    assert rows[0][0]["mpjpe"] != rows[1][0]["mpjpe"]


def test_presets_resolve_and_the_clean_preset_scores_movement():
    from refine_core.bench import TEST_PRESETS, lofo_presets, preset_config
    from refine_core.refiners import refine
    from refine_core.train import noise
    from refine_core.train.data import load_cmu

    assert set(TEST_PRESETS) == {"clean", "modern", "vibe_like", "heavy"}
    assert {p.split(":")[1] for p in lofo_presets()} == set(noise.FAMILIES)
    assert preset_config("lofo:flip").flip_rate_hz > 0 and preset_config("vibe_like") == "vibe_like"
    clips = [c.slice(0, 120) for c in load_cmu(split="val")[:2]]
    triples = corrupted_clips(clips, "clean", 0)
    assert score(triples)["mpjpe"] < 1e-9 and score(triples)["velocity_error"] < 1e-9
    moved = score(triples, lambda m: refine(m, "gaussian"))
    assert 0.0 < moved["mpjpe"] < 20.0 and moved["velocity_error"] > 0.0
    assert "| vel err |" in markdown([{"preset": "clean", "method": "gaussian", "params": "", **moved}])


def test_test_split_is_the_held_out_performers():
    """bench --split test scores load_clips("test"): the test performers of every rig
    (their files listed here; retargeting them all is the bench's job, not a quick test's)."""
    from refine_core.bench import bench_clips
    from refine_core.train.data import more_clips, more_root

    with pytest.raises(ValueError):
        bench_clips("train")
    if not (more_root() / "MANIFEST.tsv").is_file():
        pytest.skip(f"more_bvh data not found at {more_root()}")
    test = more_clips(split="test")
    assert {c.rig for c in test} == {"cgspeed", "daz", "accad", "fair"}
    assert not {c.performer for c in test} & {c.performer for c in more_clips(split="train")}


def test_bench_feet_rows_and_columns():
    """`bench --feet`: the clean motion's own feet, and each method with and without the lock."""
    rows = run_bench(methods=["gaussian"], presets=["mild"], quick=True, feet=True)
    assert [r["method"] for r in rows] == ["clean motion", "noisy input", "gaussian", "gaussian + feet lock"]
    clean, _, plain, locked = rows
    assert clean["mpjpe"] == 0 and clean["foot_sliding"] < plain["foot_sliding"]
    assert locked["foot_sliding"] < plain["foot_sliding"] and locked["penetration"] <= plain["penetration"]
    assert all(0 <= r["contact_f1"] <= 1 for r in rows)
    table = markdown(rows)
    head, rule = table.splitlines()[:2]
    assert "foot slide" in head and "root accel err" in head and rule.count("---") == head.count("|") - 1
    assert "foot slide" not in markdown(run_bench(methods=["gaussian"], presets=["mild"], quick=True)[:1])


def test_comparison_says_yes_only_when_a_learned_method_beats_every_filter():
    from refine_core.bench import comparison

    def row(method, mpjpe, pa, accel):
        return {"preset": "p", "method": method, "mpjpe": mpjpe, "pa_mpjpe": pa, "accel_error": accel}

    rows = [row("noisy input", 10, 9, 5), row("hpr", 9, 8, 4), row("gaussian", 9.5, 8.5, 4.5), row("butterworth", 9.2, 8.9, 3.9)]
    assert comparison(rows).splitlines()[-1].endswith("3.90 butterworth) | no | yes |")  # loses on accel to butterworth
    rows[-1] = row("butterworth", 9.2, 8.9, 4.1)
    assert comparison(rows).splitlines()[-1].endswith("| yes | yes |")


def test_a_method_at_other_parameters_is_its_own_row_and_counts_as_a_filter():
    """`--methods gaussian:sigma_frames=1.5` scores the filter at those parameters beside its
    default, and the best filter of the comparison is chosen over both."""
    from refine_core.bench import comparison, method_spec
    from refine_core.errors import BadInputError

    assert method_spec("gaussian:sigma_frames=1.5,x=2") == ("gaussian", ["sigma_frames=1.5", "x=2"])
    rows = run_bench(methods=["gaussian", "gaussian:sigma_frames=4", "hpr"], presets=["mild"], quick=True)
    by_name = {r["method"]: r for r in rows}
    wide = by_name["gaussian:sigma_frames=4"]
    assert wide["params"] == "sigma_frames=4.0" and wide["accel"] < by_name["gaussian"]["accel"]
    triples = corrupted_clips([c.slice(0, 600) for c in load_cmu(split="val")], "mild", 0)
    assert score(triples, lambda m: refine(m, "gaussian", params={"sigma_frames": 4}))["mpjpe"] == wide["mpjpe"]
    best_mpjpe = min(by_name["gaussian"]["mpjpe"], wide["mpjpe"])
    assert f"({best_mpjpe:.2f} " in comparison(rows).splitlines()[-1]
    with pytest.raises(BadInputError, match="sigma"):
        run_bench(methods=["gaussian:sigma=2"], presets=["mild"], quick=True)
