"""Score StackMix-HTR checkpoints on a dataset split.

Every checkpoint (a `save_pretrained` folder) transcribes the split with greedy CTC
decoding; CER, WER and string accuracy are computed with the local `evaluate` modules of
`stackmix_htr.metrics`, both on the texts as they are and "as ASR" (lower-cased, punctuation removed).
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
`--beam_width`, `--alpha` (the language model's weight) and `--beta` (a bonus per word) for checkpoints
with a language model (`stackmix-lm build`). `--tune_lm` grid-searches alpha
and beta on the validation split (lowest CER, then WER), scores `--split` with the best pair
and writes it into each checkpoint (`language_model/attrs.json`, then `decoder: "beam"` in
`processor_config.json`, each file replaced atomically once everything was scored).
"""

import argparse
import json
import os
import sys
from pathlib import Path

import datasets
import torch

from data_builders.loading import DatasetLoadError, load_dataset_folder_or_hub
from stackmix_htr.common.allocator import keep_large_blocks_in_heap
from stackmix_htr.common.atomic import check_output_folder, write_file_atomic
from stackmix_htr.common.errors import InputError, run_command
from stackmix_htr.common.flags import with_current_spellings
from stackmix_htr.metrics.scoring import METRIC_KEYS, load_metric_suite, prediction_rows, predictions_csv, score
from stackmix_htr.recognition.checkpoints import Checkpoint, load_checkpoint, transcribe
from stackmix_htr.recognition.evaluation import (
    STD_DDOF,
    aggregate,
    count_out_of_vocabulary,
    load_model_card,
    model_card_text,
    predictions_file_name,
    summary_markdown,
)
from stackmix_htr.recognition.language_model import ALPHA_GRID, BETA_GRID, store_decoding, tune_language_model
from stackmix_htr.recognition.options import OLD_SPELLINGS, DecodingOptions, RuntimeOptions


class EvaluationError(InputError):
    """An input that cannot be evaluated (checkpoint, dataset or output folder); the message says why."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Score StackMix-HTR checkpoints (CER, WER, string accuracy, also 'as ASR') on a dataset split.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--model",
        nargs="+",
        required=True,
        help="checkpoint folders (save_pretrained output), Hub model ids or shipped recognizers (general, saintgall)",
    )
    parser.add_argument("--dataset", required=True, help="dataset folder (Parquet + README.md) or Hub dataset id")
    parser.add_argument("--dataset_config", default=None, help="dataset configuration name")
    parser.add_argument("--split", default="test", help="split to score")
    parser.add_argument("--output_dir", required=True, help="where results.json, summary.md and predictions go")
    parser.add_argument("--max_eval_samples", type=int, default=None, help="score only the first N lines")
    parser.add_argument("--num_workers", type=int, default=0, help="DataLoader workers for decoding and resizing")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    RuntimeOptions.add_arguments(parser)
    parser.add_argument("--num_worst_lines", type=int, default=20, help="worst lines (by CER) listed in summary.md")
    parser.add_argument(
        "--write_model_card",
        action="store_true",
        help="also write the metrics into each checkpoint's README.md as model-index results",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --output_dir")
    DecodingOptions.add_arguments(parser)
    parser.add_argument(
        "--tune_lm",
        action="store_true",
        help="grid-search alpha and beta on --tune_split and store the best pair (and beam decoding) in each checkpoint",
    )
    parser.add_argument("--tune_split", default="validation", help="split --tune_lm scores the grid on")
    parser.add_argument("--alpha_grid", type=float, nargs="+", default=list(ALPHA_GRID), help="alphas --tune_lm tries")
    parser.add_argument("--beta_grid", type=float, nargs="+", default=list(BETA_GRID), help="betas --tune_lm tries")
    args = parser.parse_args(with_current_spellings(argv, OLD_SPELLINGS))
    args.runtime = RuntimeOptions.from_args(args, parser)
    args.decoding = DecodingOptions.from_args(args, parser)
    if args.tune_lm and (args.decoder == "greedy" or args.alpha is not None or args.beta is not None):
        parser.error("--tune_lm chooses --alpha and --beta for beam search; do not give them (nor --decoder greedy)")
    if args.tune_lm and args.tune_split == args.split:
        parser.error(
            f"--tune_lm: tune on a split other than the one scored (--tune_split {args.tune_split}, --split {args.split})"
        )
    if args.max_eval_samples is not None and args.max_eval_samples < 1:
        parser.error("--max_eval_samples must be at least 1")
    if args.backend == "onnx":
        args.device = "cpu"  # ONNX Runtime's CPU provider
    args.batch_size = args.runtime.batch_size_on(args.device)
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


# ----------------------------------------------------------------------------- scoring


# ----------------------------------------------------------------------------- outputs


# ----------------------------------------------------------------------------- main


def main(argv=None) -> dict:
    args = parse_args(argv)
    keep_large_blocks_in_heap()
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
            try:
                load_model_card(path)
            except InputError as error:
                raise EvaluationError(str(error)) from error

    # Everything that can fail on bad input happens before the first output is written.
    checkpoints = load_checkpoints(args.model, args.backend)
    data = load_split(args.dataset, args.dataset_config, args.split, args.max_eval_samples)
    references = list(data["text"])
    sample_ids = list(map(str, data["sample_id"] if "sample_id" in data.column_names else range(len(data))))
    scorers = load_metric_suite()
    options = args.decoding.batch_decode_kwargs()
    for checkpoint in checkpoints:
        try:
            args.decoding.check(checkpoint, args.tune_lm)
        except InputError as error:
            raise EvaluationError(str(error)) from error
    tuning = {}
    if args.tune_lm:
        tune_data = load_split(args.dataset, args.dataset_config, args.tune_split, args.max_eval_samples)
        tuning = {
            checkpoint.name: tune_language_model(
                checkpoint,
                tune_data,
                scorers,
                args.batch_size,
                args.device,
                args.num_workers,
                args.beam_width,
                args.alpha_grid,
                args.beta_grid,
            )
            for checkpoint in checkpoints
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
            decoding=args.decoding.summary(checkpoint.processor),
        )
        if checkpoint.name in tuning:
            values["lm_tuning"] = {"split": args.tune_split, "grid": tuning[checkpoint.name]}
        per_checkpoint[checkpoint.name] = values
        rows = prediction_rows(sample_ids, references, predictions)
        csv_texts[checkpoint.name] = predictions_csv(rows)
        worst_lines[checkpoint.name] = sorted(rows, key=lambda row: row[3], reverse=True)[: args.num_worst_lines]
        print(
            f"{checkpoint.name}: "
            + ", ".join(f"{key} {100 * values[key]:.2f}%" for key in METRIC_KEYS)
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
    write_file_atomic(output_dir / "summary.md", summary_markdown(results, worst_lines).encode("utf-8"))
    if args.write_model_card:
        for checkpoint in checkpoints:
            card = model_card_text(
                checkpoint.path, args.dataset, args.dataset_config, args.split, per_checkpoint[checkpoint.name]
            )
            write_file_atomic(Path(checkpoint.path) / "README.md", card.encode("utf-8"))
    if args.tune_lm:
        for checkpoint in checkpoints:
            store_decoding(checkpoint)
    # results.json last: its presence means the run finished.
    write_file_atomic(
        output_dir / "results.json", (json.dumps(results, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    )
    print("mean ± std: " + ", ".join(f"{key} {100 * mean[key]:.2f} ± {100 * std[key]:.2f}%" for key in METRIC_KEYS))
    print(f"wrote {output_dir}")
    return results


def run(argv=None) -> int:
    """The console script: bad input is reported as one line on stderr with exit status 2."""
    return run_command(main, argv)


if __name__ == "__main__":
    sys.exit(run())
