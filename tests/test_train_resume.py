"""A run stopped by SIGTERM saves its state and, resumed, continues the same schedule exactly."""

import json
import signal
import subprocess
import sys

import pytest
from training_support import TRAIN_SCRIPT, make_tiny_dataset, run_training, simple_splits, tiny_run, training_env


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
