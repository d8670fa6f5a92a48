"""Scoring checkpoints on a dataset split: what eval.py reports beside the metrics.

Characters a checkpoint cannot emit, the mean and spread over checkpoints, the summary page with
each checkpoint's worst lines, and the model card's model-index results.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from modeling_stackmix_htr import get_text_rules
from stackmix_htr.common.errors import InputError
from stackmix_htr.metrics.scoring import METRIC_KEYS

METRIC_LABELS = {
    "cer": "CER",
    "wer": "WER",
    "string_accuracy": "String accuracy",
    "cer_asr": "CER (as ASR)",
    "wer_asr": "WER (as ASR)",
    "string_accuracy_asr": "String accuracy (as ASR)",
}
# metric key -> (model-index metric type, whether it is scored as ASR)
MODEL_INDEX_METRICS = {
    "cer": ("cer", False),
    "wer": ("wer", False),
    "string_accuracy": ("accuracy", False),
    "cer_asr": ("cer", True),
    "wer_asr": ("wer", True),
    "string_accuracy_asr": ("accuracy", True),
}
STD_DDOF = 0


class ModelCardError(InputError):
    """A checkpoint's model card that cannot be read."""


def count_out_of_vocabulary(references: list[str], processor) -> dict:
    """Characters the checkpoint can never emit: those of the reference after the text rules'
    `preprocess` (the form the model was trained on) that are not in its vocabulary. They are
    not removed from the references; they simply count as errors."""
    vocabulary = set(processor.tokenizer.get_vocab())
    rules = get_text_rules(processor.text_rules)
    characters = Counter()
    lines = 0
    for reference in references:
        unknown = [char for char in rules.preprocess(reference) if char not in vocabulary]
        lines += bool(unknown)
        characters.update(unknown)
    return {"lines": lines, "characters": dict(characters.most_common()), "total_characters": sum(characters.values())}


def aggregate(per_checkpoint: dict[str, dict], keys) -> tuple[dict, dict]:
    """Mean and population std (ddof=STD_DDOF) of each key across checkpoints."""
    table = {key: np.array([results[key] for results in per_checkpoint.values()], dtype=np.float64) for key in keys}
    mean = {key: float(values.mean()) for key, values in table.items()}
    std = {key: float(values.std(ddof=STD_DDOF)) for key, values in table.items()}
    return mean, std


def predictions_file_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "__", name) + ".csv"


def _cell(text: str) -> str:
    """Text inside a Markdown table cell: pipes escaped, whitespace made visible as one line."""
    return "`" + text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'").replace("\n", " ") + "`"


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


def summary_markdown(results: dict, worst_lines: dict[str, list[tuple]]) -> str:
    header = "| checkpoint | " + " | ".join(f"{METRIC_LABELS[key]} %" for key in METRIC_KEYS) + " | lines/s |"
    rule = "|---" * (len(METRIC_KEYS) + 2) + "|"
    config = f" ({results['dataset_config']})" if results["dataset_config"] else ""
    lines = [
        f"# Evaluation on {results['dataset']}{config}, split `{results['split']}`",
        "",
        f"{results['num_lines']} lines, {len(results['checkpoints'])} checkpoint(s). Rates in percent; "
        '"as ASR" = lower-cased, punctuation removed, whitespace collapsed on both sides.',
        "",
        header,
        rule,
    ]
    for name, values in results["checkpoints"].items():
        cells = [_percent(values[key]) for key in METRIC_KEYS] + [f"{values['lines_per_second']:.1f}"]
        lines.append(f"| {_cell(name)} | " + " | ".join(cells) + " |")
    mean, std = results["mean"], results["std"]
    cells = [f"{_percent(mean[key])} ± {_percent(std[key])}" for key in METRIC_KEYS]
    cells.append(f"{mean['lines_per_second']:.1f} ± {std['lines_per_second']:.1f}")
    lines.append("| **mean ± std** | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"std is the population std (ddof={STD_DDOF}) across checkpoints.",
        "",
        "Decoding: "
        + "; ".join(
            f"{_cell(name)} {_decoding_text(values['decoding'])}" for name, values in results["checkpoints"].items()
        ),
        "",
        "## Out-of-vocabulary references",
        "",
    ]
    for name, values in results["checkpoints"].items():
        oov = values["oov"]
        shown = ", ".join(f"{_cell(char)} ×{count}" for char, count in oov["characters"].items()) or "none"
        lines.append(
            f"- {_cell(name)}: {oov['lines']} line(s), {oov['total_characters']} character(s) "
            f"the model cannot emit: {shown}"
        )
    for name, rows in worst_lines.items():
        lines += [
            "",
            f"## Worst lines of {_cell(name)} (by CER)",
            "",
            "| sample_id | CER % | reference | prediction |",
            "|---|---|---|---|",
        ]
        for sample_id, reference, prediction, cer in rows:
            cer_text = "inf" if math.isinf(cer) else _percent(cer)
            lines.append(f"| {_cell(str(sample_id))} | {cer_text} | {_cell(reference)} | {_cell(prediction)} |")
    return "\n".join(lines) + "\n"


def _decoding_text(decoding: dict) -> str:
    if decoding["decoder"] == "greedy":
        return "greedy"
    if not decoding["language_model"]:
        return f"beam search (width {decoding['beam_width']}, no language model)"
    return f"beam search (width {decoding['beam_width']}, language model alpha {decoding['alpha']:g}, beta {decoding['beta']:g})"


def dataset_id(dataset: str) -> str:
    """How the model-index names the dataset: a local folder by its name, a Hub dataset by its id."""
    return Path(dataset).name if Path(dataset).exists() else dataset


def load_model_card(checkpoint_path: str) -> ModelCard:
    """The checkpoint's README.md, or a minimal card when it has none."""
    readme = Path(checkpoint_path) / "README.md"
    if not readme.is_file():
        data = ModelCardData(library_name="transformers", pipeline_tag="image-to-text")
        title = Path(checkpoint_path).name
        return ModelCard(f"---\n{data.to_yaml()}\n---\n\n# {title}\n\nStackMix-HTR line recognizer.\n")
    try:
        return ModelCard.load(readme)
    except Exception as error:  # malformed YAML front matter or model-index
        raise ModelCardError(f"{readme}: cannot read the model card: {type(error).__name__}: {error}") from error


def model_card_text(checkpoint_path: str, dataset: str, config: str | None, split: str, values: dict) -> str:
    """The checkpoint's README.md with this evaluation merged into its model-index.

    Results for the same dataset, config, split, metric and metric config replace the old
    ones; everything else in the card is kept."""
    card = load_model_card(checkpoint_path)
    new_results = [
        EvalResult(
            task_type="image-to-text",
            task_name="Handwritten text recognition",
            dataset_type=dataset_id(dataset),
            dataset_name=dataset_id(dataset),
            dataset_config=config,
            dataset_split=split,
            metric_type=metric_type,
            metric_name=f"{METRIC_LABELS[key]} (%)",
            metric_config="as_asr" if as_asr else None,
            metric_value=round(100 * values[key], 4),
        )
        for key, (metric_type, as_asr) in MODEL_INDEX_METRICS.items()
    ]

    def identity(result: EvalResult) -> tuple:
        dataset = (result.dataset_type, result.dataset_config, result.dataset_split)
        return dataset + (result.metric_type, result.metric_config)

    replaced = {identity(result) for result in new_results}
    kept = [result for result in card.data.eval_results or [] if identity(result) not in replaced]
    card.data.eval_results = kept + new_results
    card.data.model_name = card.data.model_name or Path(checkpoint_path).name
    return str(card)
