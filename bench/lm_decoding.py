"""Greedy vs beam search vs beam search with a word language model on a dataset's test split.

    python bench/lm_decoding.py --model outputs/sg/best_cer --dataset data/saintgall \
        --corpus latin.txt --output_dir outputs/lm_bench [--order 3] [--beam_width 16]

Steps (each command is printed with its wall time):

1. two copies of the checkpoint under OUTPUT_DIR get a language model with
   `python -m stackmix_htr.recognition.language_model build`: `corpus` (the corpus only) and `corpus_train`
   (the corpus and the dataset's train transcriptions);
2. `eval.py --tune_lm` chooses alpha and beta for each on the validation split and stores them;
3. in this process, the model transcribes the test split once (the forward pass is timed), then
   each decoder decodes the same logits: greedy, beam search without a language model, and beam
   search with each tuned model. CER, WER (also "as ASR") and lines/s of decoding alone and of
   the whole line (forward pass + decoding) are printed as a Markdown table and written to
   OUTPUT_DIR/results.json.

Decoding runs in one process; torch uses --threads threads for the forward pass.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import datasets
import evaluate
import torch
from transformers import AutoModelForCTC, AutoProcessor

REPO_ROOT = Path(__file__).resolve().parents[1]
from modeling_stackmix_htr import StackMixHTRProcessor  # noqa: F401  (registers the Auto classes)
from stackmix_htr.common.atomic import write_file_atomic
from stackmix_htr.metrics import load_metric
from stackmix_htr.recognition.checkpoints import Checkpoint, forward_lines

VARIANTS = {"corpus": "corpus only", "corpus_train": "corpus + train transcriptions"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--model", required=True, help="checkpoint folder; it is copied, never changed")
    parser.add_argument("--dataset", required=True, help="dataset folder with train, validation and test splits")
    parser.add_argument("--corpus", required=True, help="text corpus for the language models")
    parser.add_argument("--output_dir", required=True, help="where the checkpoint copies and results go")
    parser.add_argument("--order", type=int, default=3, help="n-gram order of the language models")
    parser.add_argument("--beam_width", type=int, default=16, help="beams kept per frame (tuning and the main rows)")
    parser.add_argument("--other_beam_widths", type=int, nargs="*", default=[8], help="also decode with these widths")
    parser.add_argument(
        "--alpha_grid", type=float, nargs="+", default=None, help="alphas to tune (eval.py's grid when omitted)"
    )
    parser.add_argument(
        "--beta_grid", type=float, nargs="+", default=None, help="betas to tune (eval.py's grid when omitted)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the forward pass")
    parser.add_argument("--batch_size", type=int, default=16, help="lines per forward pass")
    return parser.parse_args()


def run(command: list[str]) -> float:
    print("$ " + shlex.join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seconds = time.perf_counter() - start
    print(f"  ({seconds:.0f} s)", flush=True)
    return seconds


def prepare_variant(args, name: str) -> dict:
    """Copy the checkpoint, build its language model and tune it; returns the commands' timings."""
    folder = Path(args.output_dir) / name
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(args.model, folder)
    build = [
        sys.executable,
        "-m",
        "stackmix_htr.cli.lm",
        "build",
        "--model",
        str(folder),
        "--corpus",
        args.corpus,
    ]
    build += ["--order", str(args.order)] + (["--dataset", args.dataset] if name == "corpus_train" else [])
    tune = [
        sys.executable,
        "eval.py",
        "--model",
        str(folder),
        "--dataset",
        args.dataset,
        "--split",
        "test",
        "--tune_lm",
    ]
    tune += [
        "--beam_width",
        str(args.beam_width),
        "--output_dir",
        str(Path(args.output_dir) / f"eval_{name}"),
        "--overwrite",
    ]
    tune += ["--device", "cpu"]
    for flag in ("alpha_grid", "beta_grid"):
        if getattr(args, flag):
            tune += [f"--{flag}", *map(str, getattr(args, flag))]
    return {"build_seconds": run(build), "tune_seconds": run(tune), "folder": str(folder)}


def test_logits(model, processor, data, batch_size: int) -> tuple[list, float]:
    """[(logits, output_lengths)] per batch of the split, and the seconds the forward passes (with image preparation) took."""
    start = time.perf_counter()
    checkpoint = Checkpoint("test", "", model, processor)
    return list(forward_lines(checkpoint, data, batch_size, num_workers=0, device="cpu")), time.perf_counter() - start


def decode_and_score(processor, batches, references, scorers, **options) -> dict:
    start = time.perf_counter()
    predictions = []
    for logits, lengths in batches:
        predictions.extend(processor.batch_decode(logits, output_lengths=lengths, **options))
    seconds = time.perf_counter() - start
    result = {"decode_seconds": seconds}
    for suffix, as_asr in (("", False), ("_asr", True)):
        values = scorers.compute(predictions=predictions, references=references, as_asr=as_asr)
        result[f"cer{suffix}"], result[f"wer{suffix}"] = values["cer"], values["wer"]
    return result


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    preparation = {name: prepare_variant(args, name) for name in VARIANTS}

    data = datasets.load_dataset(args.dataset, split="test")
    references = list(data["text"])
    model = AutoModelForCTC.from_pretrained(args.model).eval()
    base = AutoProcessor.from_pretrained(args.model)
    batches, forward_seconds = test_logits(model, base, data, args.batch_size)
    scorers = evaluate.combine([load_metric("cer"), load_metric("wer")])

    widths = [args.beam_width, *args.other_beam_widths]
    rows = {"greedy": decode_and_score(base, batches, references, scorers, decoder="greedy")}
    for width in widths:
        rows[f"beam {width}, no LM"] = decode_and_score(
            base, batches, references, scorers, decoder="beam", beam_width=width
        )
    for name, label in VARIANTS.items():
        processor = AutoProcessor.from_pretrained(preparation[name]["folder"])
        known = processor.language_model.words  # loaded before timing
        test_words = [word for text in references for word in text.split()]
        preparation[name]["test_words_known"] = sum(word in known for word in test_words) / len(test_words)
        for width in widths:
            row = decode_and_score(processor, batches, references, scorers, beam_width=width)
            row.update(
                alpha=processor.lm_settings.alpha,
                beta=processor.lm_settings.beta,
                decoder=processor.decoder,
                **preparation[name],
            )
            rows[f"beam {width} + LM ({label})"] = row

    lines = len(references)
    greedy = rows["greedy"]
    table = [
        "| decoder | CER % | WER % | CER as ASR % | WER as ASR % | CER vs greedy | WER vs greedy | decoding lines/s | end-to-end lines/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, row in rows.items():
        row["decode_lines_per_second"] = lines / row["decode_seconds"]
        row["end_to_end_lines_per_second"] = lines / (forward_seconds + row["decode_seconds"])
        cer_change = 100 * (row["cer"] / greedy["cer"] - 1)
        wer_change = 100 * (row["wer"] / greedy["wer"] - 1)
        weights = f" (alpha {row['alpha']:g}, beta {row['beta']:g})" if "alpha" in row else ""
        table.append(
            f"| {label}{weights} | {100 * row['cer']:.2f} | {100 * row['wer']:.2f} | {100 * row['cer_asr']:.2f} | "
            f"{100 * row['wer_asr']:.2f} | {cer_change:+.1f} % | {wer_change:+.1f} % | "
            f"{row['decode_lines_per_second']:.0f} | {row['end_to_end_lines_per_second']:.1f} |"
        )
    print("\n".join(table))
    print(
        f"{lines} test lines; forward pass with image preparation: {forward_seconds:.1f} s ({lines / forward_seconds:.1f} lines/s)"
    )
    for name, label in VARIANTS.items():
        known = preparation[name]["test_words_known"]
        print(
            f"LM {label}: {100 * known:.1f} % of the test words are in its vocabulary; build {preparation[name]['build_seconds']:.0f} s, tuning {preparation[name]['tune_seconds']:.0f} s"
        )
    results = {"args": vars(args), "lines": lines, "forward_seconds": forward_seconds, "rows": rows}
    write_file_atomic(output_dir / "results.json", (json.dumps(results, indent=2) + "\n").encode("utf-8"))


if __name__ == "__main__":
    main()
