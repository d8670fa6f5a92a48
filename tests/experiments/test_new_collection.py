"""experiments/new_collection.py on a tiny target: both starts trained side by side to the same budget, the
table with the minutes each used, kraken's reference row; the same command resumes from its record, and
`--report_only` tables what exists without running anything. `--jobs` groups the steps still to run."""

import json
import subprocess
import sys

from support import REPO_ROOT
from support.checkpoints import save_checkpoint
from support.training import make_tiny_dataset, simple_splits, training_env

from experiments.new_collection import parse_args, training_batches
from experiments.steps import Record


def test_scratch_and_pretrained_runs_share_each_budget_and_are_tabled(tmp_path):
    save_checkpoint(tmp_path / "trained", texts=["abx", "xba"])
    target = make_tiny_dataset(tmp_path / "target", simple_splits())
    kraken = tmp_path / "kraken"
    kraken.mkdir()
    (kraken / "summary.txt").write_text("limit: 1 min\ntest characters: 200\ntest errors: 150\n")
    results = tmp_path / "RESULTS.md"
    command = [
        sys.executable, "-m", "experiments.new_collection", "--target", target, "--pretrained", tmp_path / "trained",
        "--budgets", "1", "--seeds", "3", "--work_dir", tmp_path / "work", "--results", results, "--kraken", kraken,
        "--train_args", "--train_batch_size 4",
    ]  # fmt: skip
    first = subprocess.run(
        list(map(str, command)), cwd=REPO_ROOT, env=training_env(), capture_output=True, text=True, timeout=600
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for start in ("scratch", "pretrained"):
        budget = json.loads((tmp_path / "work" / "m1" / "s3" / start / "budget.json").read_text())
        assert 0.95 * 60 <= sum(budget["spent"].values()) <= 60
    report = results.read_text()
    assert "| 1 min | from scratch (random weights, prior output bias) | 3 |" in report
    assert "| 1 min | pretrained start | 3 |" in report
    assert "| 1 min | kraken 7.1.1 `ketos train` (its defaults), 1 thread, same pages | 1 run | 75.00 |" in report
    assert "--init_from" in report and "--max_train_minutes 1" in report
    # Targets at 30 and 60 minutes are named unmeasured; each run's share of its budget is stated.
    assert "at most half of scratch's CER: not measured (runs missing)" in report
    assert report.count("% of the budget), last learning rate") == 2
    again = subprocess.run(
        list(map(str, command)), cwd=REPO_ROOT, env=training_env(), capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0 and "$ " not in again.stdout  # every run done: only the report is written again
    report_only = subprocess.run(
        list(map(str, [*command, "--budgets", "1", "30", "--seeds", "3", "4", "--report_only"])),
        cwd=REPO_ROOT, env=training_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report_only.returncode == 0 and "$ " not in report_only.stdout
    assert not (tmp_path / "work" / "m30").exists() and not (tmp_path / "work" / "m1" / "s4").exists()
    assert "| 1 min | pretrained start | 3 |" in results.read_text()


def test_jobs_group_the_steps_still_to_run_largest_budget_first(tmp_path):
    arguments = ["--target", "t", "--pretrained", "p", "--budgets", "15", "30", "--seeds", "1", "2"]
    record = Record(tmp_path / "record.json", {})
    record.data["steps"]["train m30 s1 scratch"] = {"done": True}
    record.data["steps"]["train m30 s1 pretrained"] = {"done": False}  # interrupted: still to run
    names = [[step[0] for step in batch] for batch in training_batches(parse_args(arguments), record)]
    assert names == [
        ["train m30 s1 pretrained", "train m30 s2 scratch"],
        ["train m30 s2 pretrained", "train m15 s1 scratch"],
        ["train m15 s1 pretrained", "train m15 s2 scratch"],
        ["train m15 s2 pretrained"],
    ]
    one_at_a_time = training_batches(parse_args([*arguments, "--jobs", "1"]), record)
    assert [len(batch) for batch in one_at_a_time] == [1] * 7
