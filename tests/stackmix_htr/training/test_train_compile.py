"""--torch_compile: the backbone trains compiled on a CPU; batch widths come in buckets."""

import json

import pytest
import torch
from support.training import TINY_RUN, line_image, make_tiny_dataset, run_training, simple_splits

from modeling_stackmix_htr import StackMixHTRProcessor
from stackmix_htr.recognition.batches import LineCollator
from stackmix_htr.training import compile as compile_support


def test_collator_rounds_widths_up_to_the_bucket_and_extends_the_mask():
    processor = StackMixHTRProcessor.from_texts(["ab"], image_height=32, max_width=512)
    rows = [{"image": line_image(width), "text": "ab", "sample_id": str(width)} for width in (70, 100)]
    plain = LineCollator(processor)(rows)
    bucketed = LineCollator(processor, width_multiple=64)(rows)
    assert plain["pixel_values"].shape[-1] == 104 and bucketed["pixel_values"].shape[-1] == 128
    assert bucketed["pixel_mask"].shape == (2, 128)
    assert bucketed["pixel_mask"].sum(-1).tolist() == plain["pixel_mask"].sum(-1).tolist() == [70, 100]
    assert torch.equal(bucketed["pixel_values"][..., :104], plain["pixel_values"])


def test_compile_support_names_what_is_missing(monkeypatch):
    monkeypatch.setattr(compile_support.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="needs a C\\+\\+ compiler"):
        compile_support.check_compile_support(torch.device("cpu"))


def test_torch_compile_trains_a_few_steps_on_cpu(tmp_path):
    dataset = make_tiny_dataset(tmp_path / "data", simple_splits())
    output_dir = tmp_path / "run"
    result = run_training(
        "--dataset",
        dataset,
        "--output_dir",
        output_dir,
        *TINY_RUN,
        "--torch_compile",
        "--num_train_epochs",
        1,
        "--train_batch_size",
        4,
        "--eval_batch_size",
        4,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "backbone compiled with torch.compile" in result.stdout
    row = json.loads((output_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["step"] == 3 and row["nonfinite_losses"] == 0  # 12 lines / 4 per batch
    assert 0.0 < row["train_loss"] < 100.0 and 0.0 <= row["cer"]
