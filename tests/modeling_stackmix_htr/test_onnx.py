"""ONNX export and the ONNX Runtime backend (tiny preset): equal logits with dynamic batch and width,
the command line, eval.py --backend onnx and the pipeline's backend option."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from support import REPO_ROOT
from support.evaluation import TEST_TEXTS, write_checkpoint, write_parquet_dataset
from transformers import AutoProcessor, pipeline

import modeling_stackmix_htr  # noqa: F401  (registers the Auto classes and the pipeline)
from modeling_stackmix_htr import StackMixHTRForCTC
from modeling_stackmix_htr.onnx import ONNX_FILE, StackMixHTROnnxModel
from stackmix_htr.cli import evaluate as eval_script
from stackmix_htr.common.errors import InputError
from stackmix_htr.recognition.onnx_export import export_checkpoint

pytest.importorskip("onnxruntime")


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stackmix_htr.cli.onnx", *map(str, args)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("checkpoint"), seed=3)


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("exports") / "onnx"
    result = run_cli("export", checkpoint, output_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote {output_dir / ONNX_FILE}" in result.stdout
    return output_dir


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("width", [64, 1000])
def test_exported_logits_equal_pytorch_for_any_batch_and_width(checkpoint, exported, batch, width):
    model = StackMixHTRForCTC.from_pretrained(checkpoint).eval()
    onnx_model = StackMixHTROnnxModel.from_pretrained(exported, num_threads=1)
    generator = torch.Generator().manual_seed(batch * width)
    pixel_values = torch.rand(batch, 3, model.config.image_height, width, generator=generator)
    pixel_mask = torch.ones(batch, width, dtype=torch.long)
    for row, valid in enumerate([width, width // 2 + 3, 9][:batch]):
        pixel_mask[row, valid:] = 0
    with torch.no_grad():
        expected = model(pixel_values=pixel_values, pixel_mask=pixel_mask)
    actual = onnx_model(pixel_values=pixel_values, pixel_mask=pixel_mask)
    assert actual.logits.shape == expected.logits.shape == (batch, -(-width // 8), model.config.vocab_size)
    assert torch.equal(actual.output_lengths, expected.output_lengths)
    for row, length in enumerate(expected.output_lengths.tolist()):
        torch.testing.assert_close(actual.logits[row, :length], expected.logits[row, :length], atol=1e-4, rtol=0)


def test_export_folder_is_self_contained(exported):
    assert {ONNX_FILE, "config.json", "vocab.json"} <= {path.name for path in exported.iterdir()}
    processor = AutoProcessor.from_pretrained(exported)
    onnx_model = StackMixHTROnnxModel.from_pretrained(exported)
    assert onnx_model.config.vocab_size == processor.vocab_size
    import onnx

    graph = onnx.load(str(exported / ONNX_FILE)).graph
    operators = [node.op_type for node in graph.node]
    assert operators.count("LSTM") == onnx_model.config.lstm_num_layers
    assert "ScatterND" not in operators  # padding zeroed by products with a column mask, not by writes
    shapes = {
        value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim] for value in graph.input
    }
    assert shapes["pixel_values"][0] == shapes["pixel_mask"][0] == "batch"
    assert shapes["pixel_values"][3] == shapes["pixel_mask"][1] == "width"


def test_cli_errors_are_one_line_with_exit_code_2(checkpoint, exported, tmp_path):
    existing = run_cli("export", checkpoint, exported)
    assert existing.returncode == 2
    assert existing.stderr.strip() == f"error: {exported} already exists; pass --overwrite to replace it"
    missing = run_cli("export", tmp_path / "nowhere", tmp_path / "out")
    assert missing.returncode == 2 and "not a checkpoint folder (no config.json)" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_export_never_replaces_what_is_not_an_export(checkpoint, exported, tmp_path):
    """--overwrite replaces an earlier export only: never the checkpoint, a training run or other files."""
    source = shutil.copytree(checkpoint, tmp_path / "run" / "best_cer")
    (tmp_path / "run" / "state").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text("{}\n")
    others = tmp_path / "notes"
    others.mkdir()
    (others / "thesis.txt").write_text("keep me")
    before = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*"))
    for target, reason in (
        (source, "is or holds the checkpoint"),
        (tmp_path / "run", "is or holds the checkpoint"),
        (others, "exists and is not an ONNX export"),
    ):
        with pytest.raises(InputError, match=reason):
            export_checkpoint(str(source), str(target), overwrite=True)
    assert sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*")) == before
    assert (others / "thesis.txt").read_text() == "keep me"
    again = shutil.copytree(exported, tmp_path / "earlier_export")
    export_checkpoint(str(source), str(again), overwrite=True)  # an export is replaced
    assert (again / ONNX_FILE).is_file()


def test_eval_onnx_backend_scores_like_pytorch(checkpoint, exported, tmp_path):
    dataset = write_parquet_dataset(tmp_path / "dataset", TEST_TEXTS)
    results = {}
    for backend, model in (("pytorch", checkpoint), ("onnx", exported)):
        output_dir = tmp_path / backend
        eval_script.main(
            [
                "--model",
                str(model),
                "--dataset",
                str(dataset),
                "--output_dir",
                str(output_dir),
                "--backend",
                backend,
                "--batch_size",
                "3",
            ]
        )
        results[backend] = json.loads((output_dir / "results.json").read_text())
        results[backend]["csv"] = next((output_dir / "predictions").glob("*.csv")).read_text()
    assert results["onnx"]["backend"] == "onnx"
    pytorch, onnx_run = (next(iter(results[b]["checkpoints"].values())) for b in ("pytorch", "onnx"))
    for key in eval_script.METRIC_KEYS:
        assert onnx_run[key] == pytest.approx(pytorch[key], abs=1e-12), key
    assert results["onnx"]["csv"] == results["pytorch"]["csv"]


def test_pipeline_backend_option_runs_onnx_runtime(checkpoint, exported):
    image = np.random.default_rng(0).integers(0, 256, (30, 200), dtype=np.uint8)
    expected = pipeline("handwriting-recognition", model=str(checkpoint))(image)
    converted = pipeline("handwriting-recognition", model=str(checkpoint), backend="onnx", num_threads=1)
    assert isinstance(converted.model, StackMixHTROnnxModel)
    loaded = pipeline(
        "handwriting-recognition", model=StackMixHTROnnxModel.from_pretrained(exported), processor=str(exported)
    )
    for recognizer in (converted, loaded):
        result = recognizer(image)
        assert result["text"] == expected["text"]
        assert result["score"] == pytest.approx(expected["score"], abs=1e-5)
    with pytest.raises(ValueError, match="backend must be 'pytorch' or 'onnx'"):
        pipeline("handwriting-recognition", model=str(checkpoint), backend="tensorrt")
