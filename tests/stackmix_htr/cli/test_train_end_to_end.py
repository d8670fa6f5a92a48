"""A tiny end-to-end training run on a Saint Gall subset: checkpoints, logs, test predictions."""

import csv
import json
import math

import pytest
from support.training import TINY_RUN, run_training
from transformers import AutoModelForCTC, AutoProcessor, pipeline

import modeling_stackmix_htr  # noqa: F401  (registers the Auto classes and the pipeline)
from data_builders import build


@pytest.fixture(scope="module")
def saint_gall_built(saint_gall_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "saintgall"
    build("saintgall", saint_gall_dir, out, skip_invalid=True, progress=False)
    return out


@pytest.fixture(scope="module")
def finished_run(saint_gall_built, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("run")
    result = run_training(
        "--dataset",
        saint_gall_built,
        "--output_dir",
        output_dir,
        *TINY_RUN,
        "--max_train_samples",
        16,
        "--max_eval_samples",
        8,
        "--num_train_epochs",
        2,
        "--train_batch_size",
        4,
        "--eval_batch_size",
        4,
        "--group_by_width",
        "--report_to",
        "jsonl,tensorboard",
    )
    assert result.returncode == 0, result.stdout[-4000:]
    return output_dir, result.stdout


def test_checkpoints_load_with_the_auto_classes(finished_run, saint_gall_built):
    output_dir, _ = finished_run
    for folder in ("best_cer", "best_wer", "best_acc", "last"):
        model = AutoModelForCTC.from_pretrained(output_dir / folder)
        processor = AutoProcessor.from_pretrained(output_dir / folder)
        assert model.config.vocab_size == processor.vocab_size
        assert processor.text_rules == "saintgall"  # read from the dataset card
        card = (output_dir / folder / "README.md").read_text()
        assert "val_cer" in card and '"max_train_samples": 16' in card
    assert not [path.name for path in output_dir.iterdir() if ".tmp" in path.name]


def test_metrics_and_test_predictions_are_written(finished_run):
    output_dir, log = finished_run
    assert "world size 1" in log
    assert "memory allocator: " in log  # set up for tensor work, and said (stackmix_htr/common/allocator.py)
    rows = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [0, 1]
    assert rows[-1]["step"] == 8  # 16 lines / 4 per batch x 2 epochs
    for row in rows:
        for key in ("train_loss", "val_loss", "cer", "wer", "string_accuracy", "lr", "train_samples_per_second"):
            assert isinstance(row[key], float), key
        assert row["world_size"] == 1 and row["peak_memory_mb"] > 0 and row["nonfinite_losses"] == 0
        assert math.isfinite(row["grad_norm_max"]) and row["grad_norm_max"] > 0  # the norm before clipping
    assert 0 < rows[0]["elapsed_seconds"] < rows[1]["elapsed_seconds"]  # the run's time so far, per epoch
    assert list((output_dir / "logs").rglob("events.out.tfevents*"))

    with (output_dir / "test_predictions.csv").open(newline="") as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == 8 and len({row["sample_id"] for row in predictions}) == 8
    assert set(predictions[0]) == {"sample_id", "reference", "prediction", "cer"}
    results = json.loads((output_dir / "test_results.json").read_text())
    assert results["num_lines"] == 8 and 0.0 <= results["cer"]
    assert results["checkpoint"].endswith("best_cer")


def test_best_checkpoint_serves_the_pipeline(finished_run, saint_gall_built):
    import datasets

    output_dir, _ = finished_run
    image = datasets.load_dataset(str(saint_gall_built), split="test")[0]["image"]
    recognizer = pipeline("handwriting-recognition", model=str(output_dir / "best_cer"))
    assert isinstance(recognizer(image)["text"], str)
