"""Score StackMix-HTR checkpoints on a dataset split.

Every checkpoint (a `save_pretrained` folder) transcribes the split with greedy CTC
decoding; CER, WER and string accuracy are computed with the local `evaluate` modules in
`metrics/`, both on the texts as they are and "as ASR" (lower-cased, punctuation removed).
References are the raw dataset texts; predictions go through the checkpoint's text rules
(the processor's `batch_decode` applies them).

    python eval.py --model runs/seed1/best_cer runs/seed2/best_cer \
        --dataset data/saintgall --split test --output_dir eval/saintgall

Outputs in `--output_dir` (each written atomically, only after everything was scored):
    results.json               per-checkpoint metrics, their mean and std, throughput, OOV counts
    predictions/<name>.csv     sample_id,reference,prediction,cer
    summary.md                 the tables plus the worst lines of each checkpoint

Rates are fractions in results.json and percentages in summary.md and model cards. The
std across checkpoints is the population std (ddof=0), so one checkpoint gives 0. A line's
CER in the CSV is its edit distance over its reference length (inf for a non-empty
prediction of an empty reference). lines/s is end-to-end: image decoding, resizing, the
forward pass and CTC decoding. Reference characters a checkpoint cannot emit are counted
(`oov` in results.json) and simply scored as errors.

With `--write_model_card` each checkpoint's README.md gets the six metrics as model-index
results (as the Hub shows them); results of an earlier run on the same dataset, config,
split and metric are replaced, the rest of the card is kept.

Decoding is the checkpoint's own (greedy unless tuned) or `--decoder greedy|beam` with
`--beam_width`, `--lm_weight` (alpha) and `--word_bonus` (beta) for checkpoints with a
language model (`python -m modeling_stackmix_htr.lm build`). `--tune_lm` grid-searches alpha
and beta on the validation split (lowest CER, then WER), scores `--split` with the best pair
and writes it into each checkpoint (`language_model/attrs.json`, then `decoder: "beam"` in
`processor_config.json`, each file replaced atomically once everything was scored).
"""

import argparse
import json
import math
import os
import re
import sys
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from data_builders.atomic import check_output_folder, write_file_atomic
from data_builders.errors import InputError, run_command
from data_builders.loading import DatasetLoadError, load_dataset_folder_or_hub
from metrics.scoring import METRIC_KEYS, load_metric_suite, prediction_rows, predictions_csv, score
from modeling_stackmix_htr import get_text_rules  # importing the package registers the Auto classes
from modeling_stackmix_htr.checkpoints import Checkpoint, forward_batches, load_checkpoint, transcribe
from modeling_stackmix_htr.ctc_beam_search import ATTRS_FILE, LANGUAGE_MODEL_DIR
from modeling_stackmix_htr.processing_stackmix_htr import DECODERS

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
LM_WEIGHT_GRID = (0.1, 0.25, 0.5, 0.75, 1.0)
WORD_BONUS_GRID = (0.0, 1.5, 3.0, 4.5, 6.0)


class EvaluationError(InputError):
    """An input that cannot be evaluated (checkpoint, dataset or output folder); the message says why."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Score StackMix-HTR checkpoints (CER, WER, string accuracy, also 'as ASR') on a dataset split.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", nargs="+", required=True, help="checkpoint folders (save_pretrained output)")
    parser.add_argument("--dataset", required=True, help="dataset folder (Parquet + README.md) or Hub dataset id")
    parser.add_argument("--dataset_config", default=None, help="dataset configuration name")
    parser.add_argument("--split", default="test", help="split to score")
    parser.add_argument("--output_dir", required=True, help="where results.json, summary.md and predictions go")
    parser.add_argument("--max_eval_samples", type=int, default=None, help="score only the first N lines")
    parser.add_argument("--num_workers", type=int, default=0, help="DataLoader workers for decoding and resizing")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    add_runtime_arguments(parser)
    parser.add_argument("--num_worst_lines", type=int, default=20, help="worst lines (by CER) listed in summary.md")
    parser.add_argument(
        "--write_model_card",
        action="store_true",
        help="also write the metrics into each checkpoint's README.md as model-index results",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --output_dir")
    add_decoding_arguments(parser)
    parser.add_argument(
        "--tune_lm",
        action="store_true",
        help="grid-search alpha and beta on --tune_split and store the best pair (and beam decoding) in each checkpoint",
    )
    parser.add_argument("--tune_split", default="validation", help="split --tune_lm scores the grid on")
    parser.add_argument(
        "--lm_weight_grid", type=float, nargs="+", default=list(LM_WEIGHT_GRID), help="alphas --tune_lm tries"
    )
    parser.add_argument(
        "--word_bonus_grid", type=float, nargs="+", default=list(WORD_BONUS_GRID), help="betas --tune_lm tries"
    )
    args = parser.parse_args(argv)
    if args.batch_size is not None and args.batch_size < 1:
        parser.error("--batch_size must be at least 1")
    if args.beam_width is not None and args.beam_width < 1:
        parser.error("--beam_width must be at least 1")
    if args.tune_lm and (args.decoder == "greedy" or args.lm_weight is not None or args.word_bonus is not None):
        parser.error(
            "--tune_lm chooses --lm_weight and --word_bonus for beam search; do not give them (nor --decoder greedy)"
        )
    if args.tune_lm and args.tune_split == args.split:
        parser.error(
            f"--tune_lm: tune on a split other than the one scored (--tune_split {args.tune_split}, --split {args.split})"
        )
    if args.max_eval_samples is not None and args.max_eval_samples < 1:
        parser.error("--max_eval_samples must be at least 1")
    if args.backend == "onnx":
        args.device = "cpu"  # ONNX Runtime's CPU provider
    if args.batch_size is None:
        args.batch_size = default_batch_size(args.device)
    return args


# ----------------------------------------------------------------------------- loading


def checkpoint_names(paths: list[str]) -> list[str]:
    """Shortest unique trailing path parts: ["a/best", "b/best"] -> ["a/best", "b/best"], ["a/best"] -> ["best"]."""
    parts = [Path(os.path.normpath(path)).parts for path in paths]
    if len(set(parts)) != len(parts):
        raise EvaluationError(f"the same checkpoint is given twice: {paths}")
    for depth in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    raise AssertionError("distinct paths always have distinct suffixes")


def load_checkpoints(paths: list[str], backend: str) -> list[Checkpoint]:
    """Every checkpoint of --model; a problem is an EvaluationError naming the folder."""
    try:
        return [load_checkpoint(path, name, backend) for path, name in zip(paths, checkpoint_names(paths))]
    except EvaluationError:
        raise
    except InputError as error:
        raise EvaluationError(str(error)) from error


def load_split(dataset: str, config: str | None, split: str, max_samples: int | None) -> datasets.Dataset:
    """`split` of a dataset folder or Hub dataset, checked for the columns eval needs and for emptiness."""
    where = f"dataset {dataset}" + (f" (config {config})" if config else "")
    try:
        data = load_dataset_folder_or_hub(dataset, config, split)
    except DatasetLoadError as error:
        raise EvaluationError(str(error)) from error
    if len(data) == 0:
        raise EvaluationError(f"{where}, split {split!r}: the split is empty (0 samples)")
    missing = {"image", "text"} - set(data.column_names)
    if missing:
        raise EvaluationError(f"{where}, split {split!r}: missing column(s) {sorted(missing)}; has {data.column_names}")
    if max_samples is not None:
        data = data.select(range(min(max_samples, len(data))))
    return data


# ----------------------------------------------------------------------------- inference


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """--batch_size and --backend (for eval.py and transcribe.py)."""
    parser.add_argument(
        "--batch_size",
        type=int,
        default=None,
        help="lines per forward pass (default: 16 on a GPU, 4 on a CPU, where larger batches of wide lines "
        "run slower per line)",
    )
    parser.add_argument(
        "--backend",
        choices=["pytorch", "onnx"],
        default="pytorch",
        help="run the model with PyTorch, or with ONNX Runtime on the CPU (a checkpoint folder is exported on the "
        "fly; a folder written by `python -m modeling_stackmix_htr.onnx export` is used as is)",
    )


def default_batch_size(device: str | torch.device) -> int:
    """Lines per forward pass when --batch_size is not given."""
    return 4 if torch.device(device).type == "cpu" else 16


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    """--decoder, --beam_width, --lm_weight and --word_bonus (for eval.py and transcribe.py)."""
    parser.add_argument(
        "--decoder", choices=DECODERS, default=None, help="CTC decoding; the checkpoint's own when omitted"
    )
    parser.add_argument("--beam_width", type=int, default=None, help="beams kept per frame in beam search")
    parser.add_argument("--lm_weight", type=float, default=None, help="language-model weight alpha in beam search")
    parser.add_argument("--word_bonus", type=float, default=None, help="bonus per word beta in beam search")


def decoding_options(args) -> dict:
    """The processor's `batch_decode` options the command line sets."""
    options = {"decoder": args.decoder, "beam_width": args.beam_width, "alpha": args.lm_weight, "beta": args.word_bonus}
    return {name: value for name, value in options.items() if value is not None}


def check_decoding(checkpoint: Checkpoint, options: dict, tune: bool) -> None:
    """Fail before any work on decoding the checkpoint cannot do; load its language model when beam search uses it."""
    processor = checkpoint.processor
    build_hint = f"build one with python -m modeling_stackmix_htr.lm build --model {checkpoint.path} --corpus FILE"
    beam = tune or options.get("decoder", processor.decoder) == "beam"
    if tune and not processor.has_language_model:
        raise EvaluationError(f"checkpoint {checkpoint.path}: --tune_lm needs a language model; {build_hint}")
    if ("alpha" in options or "beta" in options) and not (beam and processor.has_language_model):
        raise EvaluationError(
            f"checkpoint {checkpoint.path}: --lm_weight and --word_bonus weigh a language model in beam search; "
            f"use --decoder beam with a checkpoint that has one ({build_hint})"
        )
    if beam and processor.has_language_model:
        try:
            processor.language_model  # loads it, or names the missing extra
        except ImportError as error:
            raise EvaluationError(f"checkpoint {checkpoint.path}: {error}") from error


def tune_language_model(checkpoint: Checkpoint, data: datasets.Dataset, args, scorers) -> list[dict]:
    """Score every (alpha, beta) of the grids with beam search on `data`; the processor keeps the best pair
    (lowest CER, then WER) and decodes with beam search from then on. Returns the grid's results."""
    processor = checkpoint.processor
    batches = list(forward_batches(checkpoint, data, args.batch_size, args.num_workers, args.device))
    references = list(data["text"])
    beam_width = args.beam_width or processor.beam_width
    grid = []
    for alpha in args.lm_weight_grid:
        for beta in args.word_bonus_grid:
            predictions = []
            for logits, lengths in batches:
                predictions.extend(
                    processor.batch_decode(
                        logits, output_lengths=lengths, decoder="beam", beam_width=beam_width, alpha=alpha, beta=beta
                    )
                )
            values = scorers.compute(predictions=predictions, references=references)
            grid.append({"alpha": alpha, "beta": beta, "cer": values["cer"], "wer": values["wer"]})
            print(
                f"{checkpoint.name}: alpha {alpha:g}, beta {beta:g}: CER {_percent(values['cer'])}%, WER {_percent(values['wer'])}%"
            )
    best = min(grid, key=lambda row: (row["cer"], row["wer"]))
    processor.lm_settings.alpha, processor.lm_settings.beta = best["alpha"], best["beta"]
    processor.decoder, processor.beam_width = "beam", beam_width
    return grid


def store_decoding(checkpoint: Checkpoint) -> None:
    """Write the processor's language-model weights and decoder into the checkpoint folder, one atomic file at a time.

    The weights go first: until the decoder switches to beam search, they change nothing."""
    processor = checkpoint.processor
    folder = Path(checkpoint.path)
    write_file_atomic(folder / LANGUAGE_MODEL_DIR / ATTRS_FILE, processor.lm_settings.to_json().encode("utf-8"))
    config_file = folder / "processor_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.update(decoder=processor.decoder, beam_width=processor.beam_width)
    write_file_atomic(
        config_file, (json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    )


def decoding_summary(processor, options: dict) -> dict:
    """How a checkpoint decoded: decoder, beam width and the language-model weights in use."""
    decoder = options.get("decoder", processor.decoder)
    if decoder == "greedy":
        return {"decoder": "greedy"}
    summary = {
        "decoder": "beam",
        "beam_width": options.get("beam_width", processor.beam_width),
        "language_model": processor.has_language_model,
    }
    if processor.has_language_model:
        summary.update(
            alpha=options.get("alpha", processor.lm_settings.alpha),
            beta=options.get("beta", processor.lm_settings.beta),
        )
    return summary


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


# ----------------------------------------------------------------------------- scoring


def aggregate(per_checkpoint: dict[str, dict], keys) -> tuple[dict, dict]:
    """Mean and population std (ddof=STD_DDOF) of each key across checkpoints."""
    table = {key: np.array([results[key] for results in per_checkpoint.values()], dtype=np.float64) for key in keys}
    mean = {key: float(values.mean()) for key, values in table.items()}
    std = {key: float(values.std(ddof=STD_DDOF)) for key, values in table.items()}
    return mean, std


# ----------------------------------------------------------------------------- outputs


def predictions_file_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "__", name) + ".csv"


def _cell(text: str) -> str:
    """Text inside a Markdown table cell: pipes escaped, whitespace made visible as one line."""
    return "`" + text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'").replace("\n", " ") + "`"


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


def summary_markdown(args, results: dict, worst_lines: dict[str, list[tuple]]) -> str:
    header = "| checkpoint | " + " | ".join(f"{METRIC_LABELS[key]} %" for key in METRIC_KEYS) + " | lines/s |"
    rule = "|---" * (len(METRIC_KEYS) + 2) + "|"
    config = f" ({args.dataset_config})" if args.dataset_config else ""
    lines = [
        f"# Evaluation on {args.dataset}{config}, split `{args.split}`",
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
        raise EvaluationError(f"{readme}: cannot read the model card: {type(error).__name__}: {error}") from error


def model_card_text(checkpoint: Checkpoint, args, values: dict) -> str:
    """The checkpoint's README.md with this evaluation merged into its model-index.

    Results for the same dataset, config, split, metric and metric config replace the old
    ones; everything else in the card is kept."""
    card = load_model_card(checkpoint.path)
    new_results = [
        EvalResult(
            task_type="image-to-text",
            task_name="Handwritten text recognition",
            dataset_type=dataset_id(args.dataset),
            dataset_name=dataset_id(args.dataset),
            dataset_config=args.dataset_config,
            dataset_split=args.split,
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
    card.data.model_name = card.data.model_name or Path(checkpoint.path).name
    return str(card)


# ----------------------------------------------------------------------------- main


def main(argv=None) -> dict:
    args = parse_args(argv)
    output_dir = Path(args.output_dir)
    check_output_folder(output_dir, "--output_dir")
    if (output_dir / "results.json").exists() and not args.overwrite:
        raise EvaluationError(f"{output_dir / 'results.json'} already exists; pass --overwrite to replace it")
    if args.write_model_card or args.tune_lm:
        not_local = [path for path in args.model if not Path(path).is_dir()]
        if not_local:
            flag = "--tune_lm" if args.tune_lm else "--write_model_card"
            raise EvaluationError(f"{flag} needs local checkpoint directories; not local: {not_local}")
        for path in args.model:
            load_model_card(path)

    # Everything that can fail on bad input happens before the first output is written.
    checkpoints = load_checkpoints(args.model, args.backend)
    data = load_split(args.dataset, args.dataset_config, args.split, args.max_eval_samples)
    references = list(data["text"])
    sample_ids = list(map(str, data["sample_id"] if "sample_id" in data.column_names else range(len(data))))
    scorers = load_metric_suite()
    options = decoding_options(args)
    for checkpoint in checkpoints:
        check_decoding(checkpoint, options, args.tune_lm)
    tuning = {}
    if args.tune_lm:
        tune_data = load_split(args.dataset, args.dataset_config, args.tune_split, args.max_eval_samples)
        tuning = {
            checkpoint.name: tune_language_model(checkpoint, tune_data, args, scorers) for checkpoint in checkpoints
        }

    per_checkpoint, csv_texts, worst_lines = {}, {}, {}
    for checkpoint in checkpoints:
        predictions, seconds = transcribe(checkpoint, data, args.batch_size, args.num_workers, args.device, options)
        values = score(predictions, references, scorers)
        values.update(
            path=checkpoint.path,
            num_lines=len(references),
            seconds=seconds,
            lines_per_second=len(references) / seconds,
            oov=count_out_of_vocabulary(references, checkpoint.processor),
            decoding=decoding_summary(checkpoint.processor, options),
        )
        if checkpoint.name in tuning:
            values["lm_tuning"] = {"split": args.tune_split, "grid": tuning[checkpoint.name]}
        per_checkpoint[checkpoint.name] = values
        rows = prediction_rows(sample_ids, references, predictions)
        csv_texts[checkpoint.name] = predictions_csv(rows)
        worst_lines[checkpoint.name] = sorted(rows, key=lambda row: row[3], reverse=True)[: args.num_worst_lines]
        print(
            f"{checkpoint.name}: "
            + ", ".join(f"{key} {_percent(values[key])}%" for key in METRIC_KEYS)
            + f", {values['lines_per_second']:.1f} lines/s"
        )

    mean, std = aggregate(per_checkpoint, METRIC_KEYS + ("lines_per_second",))
    results = {
        "dataset": args.dataset,
        "dataset_config": args.dataset_config,
        "split": args.split,
        "num_lines": len(references),
        "device": args.device,
        "backend": args.backend,
        "batch_size": args.batch_size,
        "std_ddof": STD_DDOF,
        "checkpoints": per_checkpoint,
        "mean": mean,
        "std": std,
    }

    for name, text in csv_texts.items():
        write_file_atomic(output_dir / "predictions" / predictions_file_name(name), text.encode("utf-8"))
    write_file_atomic(output_dir / "summary.md", summary_markdown(args, results, worst_lines).encode("utf-8"))
    if args.write_model_card:
        for checkpoint in checkpoints:
            card = model_card_text(checkpoint, args, per_checkpoint[checkpoint.name])
            write_file_atomic(Path(checkpoint.path) / "README.md", card.encode("utf-8"))
    if args.tune_lm:
        for checkpoint in checkpoints:
            store_decoding(checkpoint)
    # results.json last: its presence means the run finished.
    write_file_atomic(
        output_dir / "results.json", (json.dumps(results, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    )
    print("mean ± std: " + ", ".join(f"{key} {_percent(mean[key])} ± {_percent(std[key])}%" for key in METRIC_KEYS))
    print(f"wrote {output_dir}")
    return results


if __name__ == "__main__":
    sys.exit(run_command(main))
