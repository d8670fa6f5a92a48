"""experiments/saintgall_best.py on the files saintgall.sh leaves (written here by hand): one row per seed
with its recipe (start, line height, stage budgets, text rules), its test rates without and with the language model, as
scored and with the punctuation marks dropped, its minutes and lines, and the mean over the seeds of each
recipe."""

import csv
import json

import pytest

from experiments.saintgall_best import cer_unpunctuated, main

REFERENCES = ["ei hoc accidit coepit", "tere voces hanc"]  # 36 characters


def write_predictions(path, predictions) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["sample_id", "reference", "prediction", "cer"])
        writer.writerows(
            [f"l{i}", reference, prediction, 0.0]
            for i, (reference, prediction) in enumerate(zip(REFERENCES, predictions))
        )


def fake_run(folder, seed: int, init_from, cer, cer_lm, budgets=(60, 30), text_rules="saintgall", height=64) -> None:
    for stage, budget in zip(("finetune", "stackmix"), budgets):
        minutes = budget - 1.0
        run = folder / stage
        (run / "best_cer").mkdir(parents=True)
        args = {"seed": seed, "init_from": init_from if stage == "finetune" else str(folder / "finetune/best_cer")}
        (run / "best_cer" / "README.md").write_text(f"# card\n\n```json\n{json.dumps(args)}\n```\n")
        (run / "best_cer" / "processor_config.json").write_text(json.dumps({"text_rules": text_rules}))
        (run / "best_cer" / "config.json").write_text(json.dumps({"image_height": height}))
        spent = {"training": 60 * (minutes - 1), "validation": 60.0}
        summary = {"seconds": 60.0 * budget, "spent": spent, "training_lines": 100 * budget}
        (run / "budget.json").write_text(json.dumps(summary))
        (run / "metrics.jsonl").write_text(json.dumps({"epoch": 0, "cer": 0.2, "elapsed_seconds": 600}) + "\n")
    (folder / "stackmix" / "test_results.json").write_text(json.dumps({"cer": cer, "wer": 4 * cer}))
    # Greedy: a dot and a wrong letter; with the LM: the dot only. Dropping the marks leaves 1 and 0 errors.
    write_predictions(folder / "stackmix" / "test_predictions.csv", ["ei hoc accidit. coepit", "tere vocis hanc"])
    write_predictions(folder / "eval_lm" / "predictions" / "best_cer.csv", ["ei hoc accidit. coepit", REFERENCES[1]])
    lm = {"cer": cer_lm, "wer": 3 * cer_lm, "decoding": {"alpha": 1, "beta": 6}}
    (folder / "eval_lm" / "results.json").write_text(json.dumps({"checkpoints": {"best_cer": lm}}))


def test_each_seed_is_a_row_with_its_recipe_and_the_seeds_of_each_recipe_are_averaged(tmp_path):
    fake_run(tmp_path / "s1", 1, None, 0.06, 0.05)
    fake_run(tmp_path / "s2", 2, None, 0.08, 0.07)
    fake_run(tmp_path / "g1", 1, "general", 0.04, 0.03)
    fake_run(tmp_path / "g2", 2, "general", 0.05, 0.04, budgets=(20, 70))
    fake_run(tmp_path / "u1", 1, "general", 0.02, 0.01, text_rules="saintgall_unpunctuated")
    fake_run(tmp_path / "t1", 2, "general", 0.03, 0.02, text_rules="saintgall_unpunctuated", height=96)
    results = tmp_path / "RESULTS.md"
    runs = ("s1", "s2", "g1", "g2", "u1", "t1")
    main(["--runs", *(str(tmp_path / name) for name in runs), "--results", str(results)])
    report = results.read_text()
    one_error = f"{100 / 36:.2f}"
    row = "| 1 | random weights, 64 px, 60 + 30 min, saintgall | 6.00 | 24.00 | 5.00 | 15.00 | {} | 0.00 | 59 + 29 | 6000 + 3000 |"
    assert row.format(one_error) in report
    assert "| 1 | general, 64 px, 60 + 30 min, saintgall | 4.00 | 16.00 | 3.00 | 9.00 |" in report
    assert "| 2 | general, 64 px, 20 + 70 min, saintgall | 5.00 | 20.00 | 4.00 | 12.00 |" in report
    assert "| 1 | general, 64 px, 60 + 30 min, saintgall_unpunctuated | 2.00 |" in report
    assert "| 2 | general, 96 px, 60 + 30 min, saintgall_unpunctuated | 3.00 |" in report
    mean = next(line for line in report.splitlines() if line.startswith("| mean ± std |"))
    assert mean.startswith(
        "| mean ± std | random weights, 64 px, 60 + 30 min, saintgall | 7.00 ± 1.41 | 28.00 ± 5.66 | 6.00 ± 1.41 |"
    )
    assert f"| {one_error} ± 0.00 | 0.00 ± 0.00 | 88 per seed | 9000 per seed |" in mean
    assert report.count("| mean ± std |") == 1  # no two general seeds share a recipe (budgets, text rules, height)
    assert (tmp_path / "saintgall_best_curves.png").is_file()


def test_marks_dropped_rescoring_counts_every_character_of_the_references(tmp_path):
    path = tmp_path / "predictions.csv"
    write_predictions(path, ["ei hoc. accidit. coepit.", "tere voces hanc ."])
    assert cer_unpunctuated(path) == pytest.approx(0.0)
    write_predictions(path, ["ei hoc accidit coepit", "tere voces"])  # " hanc" deleted: 5 of 36 characters
    assert cer_unpunctuated(path) == pytest.approx(5 / 36)
