"""A run stopped by SIGTERM saves its state and, resumed, continues the same schedule exactly."""

import json
import signal
import subprocess
import sys

import pytest
from support.training import (
    TINY_RUN,
    TRAIN_SCRIPT,
    make_tiny_dataset,
    run_training,
    simple_splits,
    tiny_run,
    training_env,
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny", simple_splits())


def arguments(dataset, output_dir):
    return [
        *tiny_run(dataset, output_dir, epochs=3, batch_size=2),
        "--eval_batch_size",
        4,
    ]


def metrics_rows(output_dir):
    return [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]


def test_sigterm_then_resume_matches_an_uninterrupted_run(dataset, tmp_path):
    reference_dir, interrupted_dir = tmp_path / "reference", tmp_path / "interrupted"
    reference = run_training(*arguments(dataset, reference_dir))
    assert reference.returncode == 0, reference.stdout[-3000:]

    process = subprocess.Popen(
        [sys.executable, str(TRAIN_SCRIPT), *map(str, arguments(dataset, interrupted_dir))],
        env=training_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log = []
    for line in process.stdout:  # the handler is in place once training is announced
        log.append(line)
        if " training: " in line:
            process.send_signal(signal.SIGTERM)
            break
    log += process.stdout.readlines()
    assert process.wait(timeout=120) != 0
    log = "".join(log)
    assert "stopped by SIGTERM" in log, log[-3000:]
    progress = json.loads((interrupted_dir / "state" / "training_progress.json").read_text())
    assert 0 < progress["global_step"] < reference_rows_last_step(reference_dir)

    resumed = run_training(*arguments(dataset, interrupted_dir), "--resume_from_checkpoint", "latest")
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert f"optimizer step {progress['global_step']}" in resumed.stdout

    expected, got = metrics_rows(reference_dir), metrics_rows(interrupted_dir)
    assert [row["epoch"] for row in got] == [0, 1, 2]
    for want, have in zip(expected, got):
        assert have["step"] == want["step"]
        assert have["lr"] == pytest.approx(want["lr"], rel=1e-9)
    # Same weights at the end: the restored RNG, sampler order and optimizer state replay the run.
    assert got[-1]["val_loss"] == pytest.approx(expected[-1]["val_loss"], rel=1e-4)
    assert got[-1]["train_loss"] == pytest.approx(expected[-1]["train_loss"], rel=1e-4)


def reference_rows_last_step(output_dir):
    return metrics_rows(output_dir)[-1]["step"]


def test_a_budgeted_run_stopped_and_resumed_ends_within_its_budget_with_best_cer_and_the_test_scored(dataset, tmp_path):
    output_dir = tmp_path / "budgeted"
    budgeted = ["--dataset", dataset, "--output_dir", output_dir, *TINY_RUN, "--train_batch_size", 2]
    budgeted += ["--eval_batch_size", 4, "--max_train_minutes", 1]
    process = subprocess.Popen(
        [sys.executable, str(TRAIN_SCRIPT), *map(str, budgeted)],
        env=training_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in process.stdout:  # stopped after its second epoch
        if "epoch 1: train loss" in line:
            process.send_signal(signal.SIGTERM)
            break
    process.stdout.read()
    assert process.wait(timeout=120) != 0
    spent_before = json.loads((output_dir / "state" / "training_progress.json").read_text())["budget"]["spent"]
    assert 0 < sum(spent_before.values()) < 60

    resumed = run_training(*budgeted, "--resume_from_checkpoint", "latest", timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    budget = json.loads((output_dir / "budget.json").read_text())
    used = sum(budget["spent"].values())
    assert 0.95 * 60 <= used <= 60, budget  # the rest of the budget, not a new one
    assert budget["spent"]["training"] > spent_before["training"] and budget["validations"] >= 2
    assert "budget 1 min, used" in resumed.stdout
    rows = metrics_rows(output_dir)
    assert rows[-1]["lr"] < 1e-6 and rows[-1]["budget_fraction"] == 1.0  # annealed at the end of the budget
    assert all(row["budget_seconds"] == 60 for row in rows)
    assert (output_dir / "best_cer" / "model.safetensors").is_file()
    assert json.loads((output_dir / "test_results.json").read_text())["num_lines"] == 4
