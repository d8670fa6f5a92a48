"""Two CPU processes (gloo DDP) really run, split the data and gather every validation line once."""

import csv
import json
import os

from support.training import make_tiny_dataset, run_training, simple_splits, tiny_run, two_cpu_processes


def test_two_cpu_processes(tmp_path, monkeypatch):
    dataset = make_tiny_dataset(tmp_path / "data", simple_splits())
    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    launcher = two_cpu_processes(port=29500 + os.getpid() % 1000)
    result = run_training(
        "--cpu",
        *tiny_run(dataset, tmp_path / "run", epochs=1, batch_size=2),
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
