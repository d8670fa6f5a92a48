"""experiments/plateau.py on a tiny fixture: each setting stops at the threshold, the table is printed,
and running again skips finished settings."""

import json
import os
import subprocess
import sys

from support.training import REPO_ROOT, make_tiny_dataset, simple_splits, training_env


def test_plateau_study_stops_runs_at_the_threshold_and_resumes(tmp_path):
    dataset = make_tiny_dataset(tmp_path / "data", simple_splits())
    work_dir = tmp_path / "plateau"
    command = [
        sys.executable, "-m", "experiments.plateau", "--dataset", dataset, "--work_dir", work_dir, "--preset", "tiny",
        "--runs", "baseline", "blank_bias_prior", "--schedule_epochs", "30", "--max_epochs", "2",
        # CER never exceeds 5 after an epoch of a tiny model: every setting ends after its first epoch.
        "--threshold", "5", "--jobs", "2", "--train_args", "--num_workers 0 --train_batch_size 3",
        "--results", tmp_path / "RESULTS.md",
    ]  # fmt: skip
    study = subprocess.run(
        list(map(str, command)), cwd=REPO_ROOT, env=training_env(), capture_output=True, text=True, timeout=300
    )
    assert study.returncode == 0, study.stdout[-3000:] + study.stderr[-3000:]

    record = json.loads((work_dir / "plateau_record.json").read_text())
    for name in ("baseline", "blank_bias_prior"):
        run = record["runs"][name]
        assert run["done"] and run["epochs_to_threshold"] == 1 and run["seconds_to_threshold"] > 0
        assert 1 <= run["epochs_run"] < 30  # stopped (SIGTERM, state saved) long before its schedule ends
        assert (work_dir / name / "state" / "training_progress.json").is_file()
        arguments = "`--blank_bias prior`" if name == "blank_bias_prior" else "–"
        assert f"| {name} | {arguments} | 1 |" in study.stdout
    assert "--blank_bias prior" in record["runs"]["blank_bias_prior"]["command"]
    # The paper's start and no clipping, whatever the defaults.
    assert "--blank_bias 0 --max_grad_norm 0" in record["runs"]["baseline"]["command"]
    assert "Fewest epochs to the threshold: baseline, blank_bias_prior (1)." in study.stdout
    assert (work_dir / "plateau.md").read_text().strip() in study.stdout
    assert (work_dir / "plateau.md").read_text().strip() in (tmp_path / "RESULTS.md").read_text()

    metrics = work_dir / "baseline" / "metrics.jsonl"
    written = os.stat(metrics).st_mtime_ns
    again = subprocess.run(
        list(map(str, command)), cwd=REPO_ROOT, env=training_env(), capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "baseline: finished earlier" in again.stdout and "blank_bias_prior: finished earlier" in again.stdout
    assert os.stat(metrics).st_mtime_ns == written and "| baseline | – | 1 |" in again.stdout
