"""eval.py end to end on a tiny Parquet dataset and tiny random checkpoints."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from huggingface_hub import ModelCard
from rapidfuzz.distance import Levenshtein
from support import REPO_ROOT
from support.evaluation import TEST_TEXTS, TRAIN_TEXTS, write_checkpoint, write_parquet_dataset
from support.language_models import write_language_model

from data_builders import InputError
from modeling_stackmix_htr import StackMixHTRProcessor
from stackmix_htr.cli import evaluate as eval_script
from stackmix_htr.metrics import normalize_as_asr


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    return write_parquet_dataset(tmp_path_factory.mktemp("dataset"), TEST_TEXTS)


@pytest.fixture(scope="module")
def checkpoint_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    return [
        write_checkpoint(root / "seed0" / "best_cer", seed=0),
        write_checkpoint(root / "seed1" / "best_cer", seed=1),
        write_checkpoint(root / "constant" / "best_cer", seed=2, constant_char="a"),
    ]


@pytest.fixture(scope="module")
def evaluation(dataset_dir, checkpoint_dirs, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("eval") / "out"
    argv = ["--model", *map(str, checkpoint_dirs), "--dataset", str(dataset_dir), "--split", "test"]
    argv += ["--output_dir", str(output_dir), "--batch_size", "2", "--write_model_card"]
    eval_script.main(argv)
    return output_dir, json.loads((output_dir / "results.json").read_text(encoding="utf-8"))


def read_predictions(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def corpus_rate(predictions, references, tokenize) -> float:
    errors = sum(Levenshtein.distance(tokenize(r), tokenize(p)) for p, r in zip(predictions, references))
    return errors / sum(len(tokenize(r)) for r in references)


def test_results_equal_an_independent_computation_on_the_predictions(evaluation):
    output_dir, results = evaluation
    assert set(results["checkpoints"]) == {"seed0/best_cer", "seed1/best_cer", "constant/best_cer"}
    # The constant checkpoint transcribes "a" and, as ASR, "A." exactly: accuracy is not trivially 0.
    assert [row["prediction"] for row in read_predictions(output_dir / "predictions" / "constant__best_cer.csv")] == [
        "a"
    ] * len(TEST_TEXTS)
    for name, values in results["checkpoints"].items():
        rows = read_predictions(output_dir / "predictions" / f"{name.replace('/', '__')}.csv")
        assert [row["sample_id"] for row in rows] == [f"line-{i:02d}" for i in range(len(TEST_TEXTS))]
        references = [row["reference"] for row in rows]
        predictions = [row["prediction"] for row in rows]
        assert references == TEST_TEXTS
        asr_predictions = [normalize_as_asr(text) for text in predictions]
        asr_references = [normalize_as_asr(text) for text in references]
        expected = {
            "cer": corpus_rate(predictions, references, list),
            "wer": corpus_rate(predictions, references, str.split),
            "string_accuracy": np.mean([p == r for p, r in zip(predictions, references)]),
            "cer_asr": corpus_rate(asr_predictions, asr_references, list),
            "wer_asr": corpus_rate(asr_predictions, asr_references, str.split),
            "string_accuracy_asr": np.mean([p == r for p, r in zip(asr_predictions, asr_references)]),
        }
        for key, value in expected.items():
            assert values[key] == pytest.approx(value), (name, key)
        for row in rows:
            line_cer = Levenshtein.distance(row["reference"], row["prediction"]) / len(row["reference"])
            assert float(row["cer"]) == pytest.approx(line_cer)
        assert values["num_lines"] == len(TEST_TEXTS)
        assert values["lines_per_second"] > 0


def test_mean_and_std_across_checkpoints(evaluation):
    _, results = evaluation
    per_checkpoint = list(results["checkpoints"].values())
    # Random checkpoints must disagree somewhere, or the std check below proves nothing.
    assert len({values["cer"] for values in per_checkpoint}) > 1
    for key in ("cer", "wer", "string_accuracy", "cer_asr", "wer_asr", "string_accuracy_asr", "lines_per_second"):
        values = np.array([checkpoint[key] for checkpoint in per_checkpoint])
        assert results["mean"][key] == pytest.approx(values.mean())
        assert results["std"][key] == pytest.approx(values.std(ddof=0))
    assert results["std_ddof"] == 0


def test_out_of_vocabulary_references_are_counted(evaluation):
    _, results = evaluation
    for values in results["checkpoints"].values():
        # Counted by hand: "Amen ж" -> ж; "ж Quid?" -> ж Q d ?; "amen,  AMEN" -> M E N.
        assert values["oov"]["characters"] == {"ж": 2, "Q": 1, "d": 1, "?": 1, "M": 1, "E": 1, "N": 1}
        assert values["oov"]["lines"] == 3
        assert values["oov"]["total_characters"] == 8


def test_summary_lists_every_checkpoint_and_worst_lines(evaluation):
    output_dir, results = evaluation
    summary = (output_dir / "summary.md").read_text(encoding="utf-8")
    for name in results["checkpoints"]:
        assert f"`{name}`" in summary
        assert f"## Worst lines of `{name}`" in summary
    assert "mean ± std" in summary
    assert not [path.name for path in output_dir.rglob("*.tmp")]


def test_model_card_holds_the_checkpoint_metrics(evaluation, checkpoint_dirs):
    _, results = evaluation
    names = ["seed0/best_cer", "seed1/best_cer", "constant/best_cer"]
    for name, checkpoint in zip(names, checkpoint_dirs):
        card = ModelCard.load(checkpoint / "README.md")
        by_metric = {(r.metric_type, r.metric_config): r for r in card.data.eval_results}
        assert len(by_metric) == len(card.data.eval_results) == 6
        values = results["checkpoints"][name]
        assert by_metric[("cer", None)].metric_value == pytest.approx(100 * values["cer"], abs=1e-4)
        assert by_metric[("wer", "as_asr")].metric_value == pytest.approx(100 * values["wer_asr"], abs=1e-4)
        assert by_metric[("cer", None)].dataset_split == "test"


def test_model_card_update_keeps_the_card_and_replaces_old_results(dataset_dir, tmp_path):
    checkpoint = write_checkpoint(tmp_path / "ckpt", seed=7)
    card = "---\nlicense: apache-2.0\n---\n\n# My recognizer\n\nNotes.\n"
    (checkpoint / "README.md").write_text(card, encoding="utf-8")
    for run in range(2):
        argv = ["--model", str(checkpoint), "--dataset", str(dataset_dir), "--output_dir", str(tmp_path / f"out{run}")]
        eval_script.main(argv + ["--max_eval_samples", "2", "--write_model_card"])
    card = ModelCard.load(checkpoint / "README.md")
    assert card.data.license == "apache-2.0"
    assert "# My recognizer" in card.content and "Notes." in card.content
    assert len(card.data.eval_results) == 6
    results = json.loads((tmp_path / "out1" / "results.json").read_text(encoding="utf-8"))
    assert results["num_lines"] == 2
    assert results["std"]["cer"] == 0.0


def test_existing_results_are_not_overwritten_silently(dataset_dir, checkpoint_dirs, evaluation):
    output_dir, _ = evaluation
    before = (output_dir / "results.json").read_bytes()
    argv = ["--model", str(checkpoint_dirs[0]), "--dataset", str(dataset_dir), "--output_dir", str(output_dir)]
    with pytest.raises(eval_script.EvaluationError, match="already exists; pass --overwrite"):
        eval_script.main(argv)
    assert (output_dir / "results.json").read_bytes() == before


@pytest.mark.parametrize("row_groups", [0, 1])
def test_empty_split_is_an_error(checkpoint_dirs, tmp_path, row_groups):
    dataset = write_parquet_dataset(tmp_path / "empty", [])
    if row_groups:  # one empty row group, as pyarrow's write_table makes it: datasets 5.2 cannot read that
        shard = dataset / "data" / "test-00000-of-00001.parquet"
        pq.write_table(pq.read_schema(shard).empty_table(), shard)
    argv = ["--model", str(checkpoint_dirs[0]), "--dataset", str(dataset), "--output_dir", str(tmp_path / "out")]
    with pytest.raises(eval_script.EvaluationError, match=r"empty.*split 'test': the split is empty \(0 samples\)"):
        eval_script.main(argv)
    assert not (tmp_path / "out").exists()


def test_folders_with_the_same_name_are_each_scored_on_their_own_lines(checkpoint_dirs, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    card = "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: test\n    path: data/test-*\n---\n"
    for name, texts in (("a", TEST_TEXTS[:2]), ("b", TEST_TEXTS[2:5])):
        dataset = write_parquet_dataset(tmp_path / name / "ds", texts)
        (dataset / "README.md").write_text(card, encoding="utf-8")  # the card's configs, as the builders write it
        output_dir = tmp_path / name / "eval"
        argv = ["--model", str(checkpoint_dirs[0]), "--dataset", str(dataset), "--output_dir", str(output_dir)]
        eval_script.main(argv)
        rows = read_predictions(output_dir / "predictions" / "best_cer.csv")
        assert [row["reference"] for row in rows] == texts


def test_an_output_folder_that_is_a_file_is_refused_before_work(dataset_dir, checkpoint_dirs, tmp_path, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("transcribed before the output folder was checked")

    monkeypatch.setattr(eval_script, "transcribe", no_work)
    (tmp_path / "results").write_text("a file")
    argv = ["--model", checkpoint_dirs[0], "--dataset", dataset_dir, "--output_dir", tmp_path / "results"]
    with pytest.raises(InputError, match=f"--output_dir {tmp_path / 'results'}: .* is a file, not a folder"):
        eval_script.main(list(map(str, argv)))


def test_unknown_split_is_an_error(dataset_dir, checkpoint_dirs, tmp_path):
    argv = ["--model", str(checkpoint_dirs[0]), "--dataset", str(dataset_dir), "--split", "validation"]
    with pytest.raises(eval_script.EvaluationError, match=r"no split 'validation'; available: \['test'\]"):
        eval_script.main(argv + ["--output_dir", str(tmp_path / "out")])


def corrupt_by_truncating_weights(checkpoint: Path) -> str:
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return "cannot be loaded"


def corrupt_by_breaking_config(checkpoint: Path) -> str:
    (checkpoint / "config.json").write_text('{"model_type": "stackmix_htr",', encoding="utf-8")
    return "config.json is not valid JSON"


@pytest.mark.parametrize("corrupt", [corrupt_by_truncating_weights, corrupt_by_breaking_config])
def test_corrupt_checkpoint_is_an_error_before_any_output(corrupt, dataset_dir, checkpoint_dirs, tmp_path):
    broken = write_checkpoint(tmp_path / "broken", seed=0)
    message = corrupt(broken)
    output_dir = tmp_path / "out"
    argv = ["--model", str(checkpoint_dirs[0]), str(broken), "--dataset", str(dataset_dir)]
    argv += ["--output_dir", str(output_dir)]
    with pytest.raises(eval_script.EvaluationError, match=f"checkpoint {broken}.*{message}"):
        eval_script.main(argv)
    assert not output_dir.exists()


def test_missing_checkpoint_fails_on_the_command_line(dataset_dir, tmp_path):
    missing = tmp_path / "no_such_checkpoint"
    output_dir = tmp_path / "out"
    command = [sys.executable, str(REPO_ROOT / "eval.py"), "--model", str(missing), "--dataset", str(dataset_dir)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run(command + ["--output_dir", str(output_dir)], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert result.stderr == f"error: checkpoint {missing}: no such folder\n"
    assert not output_dir.exists()


def test_unreadable_model_card_is_an_error_before_any_output(dataset_dir, tmp_path):
    checkpoint = write_checkpoint(tmp_path / "ckpt", seed=0)
    (checkpoint / "README.md").write_text("---\nmodel-index: [unclosed\n---\n", encoding="utf-8")
    output_dir = tmp_path / "out"
    argv = ["--model", str(checkpoint), "--dataset", str(dataset_dir), "--output_dir", str(output_dir)]
    with pytest.raises(eval_script.EvaluationError, match=f"{checkpoint / 'README.md'}: cannot read the model card"):
        eval_script.main(argv + ["--write_model_card"])
    assert not output_dir.exists()


def test_tune_lm_stores_its_choice_in_the_checkpoint(tmp_path):
    checkpoint = write_checkpoint(tmp_path / "checkpoint", seed=0)
    write_language_model(checkpoint / "language_model", TRAIN_TEXTS)
    dataset = write_parquet_dataset(tmp_path / "dataset", TRAIN_TEXTS, split="validation")
    write_parquet_dataset(dataset, TEST_TEXTS[:3], split="test")
    argv = ["--model", str(checkpoint), "--dataset", str(dataset), "--output_dir", str(tmp_path / "out"), "--tune_lm"]
    argv += [
        "--beam_width",
        "3",
        "--alpha_grid",
        "0.3",
        "2.0",
        "--word_bonus_grid",
        "0.2",
        "4.0",
    ]  # and a former spelling
    results = eval_script.main(argv)

    values = results["checkpoints"]["checkpoint"]
    grid = values["lm_tuning"]["grid"]
    assert values["lm_tuning"]["split"] == "validation"
    assert [(row["alpha"], row["beta"]) for row in grid] == [(0.3, 0.2), (0.3, 4.0), (2.0, 0.2), (2.0, 4.0)]
    best = min(grid, key=lambda row: (row["cer"], row["wer"]))
    assert values["decoding"] == {
        "decoder": "beam",
        "beam_width": 3,
        "language_model": True,
        "alpha": best["alpha"],
        "beta": best["beta"],
    }
    attrs = json.loads((checkpoint / "language_model" / "attrs.json").read_text(encoding="utf-8"))
    assert (attrs["alpha"], attrs["beta"]) == (best["alpha"], best["beta"])
    processor = StackMixHTRProcessor.from_pretrained(checkpoint)
    assert (processor.decoder, processor.beam_width) == ("beam", 3)
    assert (processor.lm_settings.alpha, processor.lm_settings.beta) == (best["alpha"], best["beta"])
    assert "language model alpha" in (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")

    # The tuned checkpoint now decodes by beam search by default; greedy stays one flag away.
    again = eval_script.main(argv[:6] + ["--output_dir", str(tmp_path / "greedy"), "--decoder", "greedy"])
    assert again["checkpoints"]["checkpoint"]["decoding"] == {"decoder": "greedy"}


def test_tune_lm_without_a_language_model_is_an_error(tmp_path):
    checkpoint = write_checkpoint(tmp_path / "checkpoint", seed=0)
    dataset = write_parquet_dataset(tmp_path / "dataset", TRAIN_TEXTS, split="validation")
    write_parquet_dataset(dataset, TRAIN_TEXTS, split="test")
    argv = ["--model", str(checkpoint), "--dataset", str(dataset), "--output_dir", str(tmp_path / "out"), "--tune_lm"]
    with pytest.raises(eval_script.EvaluationError, match="needs a language model; build one with"):
        eval_script.main(argv)
    with pytest.raises(eval_script.EvaluationError, match="--alpha and --beta weigh a language model"):
        eval_script.main(argv[:-1] + ["--decoder", "beam", "--lm_weight", "0.5"])
    assert not (tmp_path / "out").exists()
    assert json.loads((checkpoint / "processor_config.json").read_text(encoding="utf-8"))["decoder"] == "greedy"


def test_batch_size_defaults_to_four_lines_on_a_cpu_and_sixteen_on_a_gpu():
    base = ["--model", "m", "--dataset", "d", "--output_dir", "o"]
    assert eval_script.parse_args([*base, "--device", "cpu"]).batch_size == 4
    assert eval_script.parse_args([*base, "--device", "cuda"]).batch_size == 16
    assert eval_script.parse_args([*base, "--device", "cuda", "--backend", "onnx"]).batch_size == 4
    assert eval_script.parse_args([*base, "--device", "cpu", "--batch_size", "7"]).batch_size == 7
