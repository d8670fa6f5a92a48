"""experiments/saintgall_best.py on the files saintgall.sh leaves (written here by hand): one row per seed
with its start and stage budgets, its test rates without and with the language model, its minutes and
lines, and the mean over the seeds of each recipe."""

import json

from experiments.saintgall_best import main


def fake_run(folder, seed: int, init_from, cer: float, cer_lm: float, budgets=(60, 30)) -> None:
    for stage, budget in zip(("finetune", "stackmix"), budgets):
        minutes = budget - 1.0
        run = folder / stage
        (run / "best_cer").mkdir(parents=True)
        args = {"seed": seed, "init_from": init_from if stage == "finetune" else str(folder / "finetune/best_cer")}
        (run / "best_cer" / "README.md").write_text(f"# card\n\n```json\n{json.dumps(args)}\n```\n")
        spent = {"training": 60 * (minutes - 1), "validation": 60.0}
        summary = {"seconds": 60.0 * budget, "spent": spent, "training_lines": 100 * budget}
        (run / "budget.json").write_text(json.dumps(summary))
        (run / "metrics.jsonl").write_text(json.dumps({"epoch": 0, "cer": 0.2, "elapsed_seconds": 600}) + "\n")
    (folder / "stackmix" / "test_results.json").write_text(json.dumps({"cer": cer, "wer": 4 * cer}))
    (folder / "eval_lm").mkdir()
    lm = {"cer": cer_lm, "wer": 3 * cer_lm, "decoding": {"alpha": 1, "beta": 6}}
    (folder / "eval_lm" / "results.json").write_text(json.dumps({"checkpoints": {"best_cer": lm}}))


def test_each_seed_is_a_row_with_its_recipe_and_the_seeds_of_each_recipe_are_averaged(tmp_path):
    fake_run(tmp_path / "s1", 1, None, 0.06, 0.05)
    fake_run(tmp_path / "s2", 2, None, 0.08, 0.07)
    fake_run(tmp_path / "g1", 1, "general", 0.04, 0.03)
    fake_run(tmp_path / "g2", 2, "general", 0.05, 0.04, budgets=(20, 70))
    results = tmp_path / "RESULTS.md"
    main(["--runs", *(str(tmp_path / name) for name in ("s1", "s2", "g1", "g2")), "--results", str(results)])
    report = results.read_text()
    assert "| 1 | random weights, 60 + 30 min | 6.00 | 24.00 | 5.00 | 15.00 | 59 + 29 | 6000 + 3000 |" in report
    assert "| 1 | general, 60 + 30 min | 4.00 | 16.00 | 3.00 | 9.00 | 59 + 29 | 6000 + 3000 |" in report
    assert "| 2 | general, 20 + 70 min | 5.00 | 20.00 | 4.00 | 12.00 | 19 + 69 | 2000 + 7000 |" in report
    assert "| mean ± std | random weights, 60 + 30 min | 7.00 ± 1.41 | 28.00 ± 5.66 | 6.00 ± 1.41 |" in report
    assert "| mean ± std | general" not in report  # the general start's two seeds ran different budgets
    assert (tmp_path / "saintgall_best_curves.png").is_file()
