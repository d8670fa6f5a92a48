"""Two CPU processes (gloo DDP) really run, split the data and gather every validation line once."""

import csv
import json
import os
import shutil
import sys
from pathlib import Path

from training_support import TINY_RUN, make_tiny_dataset, run_training, simple_splits


def test_two_cpu_processes(tmp_path, monkeypatch):
    dataset = make_tiny_dataset(tmp_path / "data", simple_splits())
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or "accelerate"
    # `accelerate launch --cpu --num_processes 2` would start one process; this starts two.
    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    launcher = [
        accelerate,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(29500 + os.getpid() % 1000),
    ]
    result = run_training(
        "--cpu",
        "--dataset",
        dataset,
        "--output_dir",
        tmp_path / "run",
        *TINY_RUN,
        "--num_train_epochs",
        1,
        "--train_batch_size",
        2,
        "--eval_batch_size",
        3,
        "--group_by_width",
        launcher=launcher,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "world size 2" in result.stdout
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert row["world_size"] == 2
    # 12 lines, 2 per batch and process: 3 optimizer steps per process.
    assert row["step"] == 3
    with (tmp_path / "run" / "test_predictions.csv").open(newline="") as handle:
        ids = [line["sample_id"] for line in csv.DictReader(handle)]
    # 4 test lines in batches of 3 over 2 processes: accelerate pads with repeats, the gather drops them.
    assert sorted(ids) == [f"te-{i}" for i in range(4)]
