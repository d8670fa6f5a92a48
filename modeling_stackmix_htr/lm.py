"""Word n-gram language models for beam search, built into a checkpoint folder.

    python -m modeling_stackmix_htr.lm build --model CKPT --corpus latin.txt [--dataset data/saintgall] [--order 3]

writes `CKPT/alphabet.json` and `CKPT/language_model/` (see `ctc_beam_search`) from the corpus and,
with `--dataset`, the transcriptions of its train split. Texts are written the way the model
writes: corpus lines go through the text rules' `from_plain_text` (the dataset's transcription
conventions; with `--dataset`, its spelling rules take the rates of its transcriptions, each rewrite
made where it is the usual form), every text through `preprocess`, and corpus lines with characters
the model cannot emit are left out. A line is a sentence; words are what spaces separate (the unit
beam search scores). KenLM's `lmplz` estimates the model when it is on the PATH; otherwise
`kneser_ney` does, with the same smoothing. Nothing already in CKPT changes unless the build succeeds.

Beam search only uses the model once the checkpoint decodes with `decoder="beam"`:
`python eval.py --model CKPT --dataset DS --tune_lm` chooses alpha and beta and sets it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from data_builders.atomic import atomic_folder, check_output_folder, write_file_atomic
from data_builders.errors import InputError, run_command
from data_builders.text_files import utf8_lines

from .ctc_beam_search import (
    ALPHABET_FILE,
    ATTRS_FILE,
    LANGUAGE_MODEL_DIR,
    UNIGRAMS_FILE,
    LanguageModelSettings,
    alphabet_json,
)
from .kneser_ney import KneserNeyModel
from .text_rules import get_text_rules

DEFAULT_ORDER = 3


class LanguageModelBuildError(InputError):
    """An input the build cannot use; the message names it and says what to do."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m modeling_stackmix_htr.lm", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser(
        "build",
        help="build CKPT/language_model/ from a corpus and, optionally, a dataset's train transcriptions",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    build.add_argument(
        "--model", required=True, help="checkpoint folder (save_pretrained output) that receives the model"
    )
    build.add_argument("--corpus", required=True, help="text file, one line of running text per line (UTF-8)")
    build.add_argument(
        "--dataset", default=None, help="dataset folder or Hub id whose train transcriptions join the corpus"
    )
    build.add_argument("--dataset_split", default="train", help="the split of --dataset to take transcriptions from")
    build.add_argument("--order", type=int, default=DEFAULT_ORDER, help="n-gram order")
    build.add_argument(
        "--estimator",
        choices=("auto", "lmplz", "python"),
        default="auto",
        help="who estimates the model: KenLM's lmplz, the built-in modified Kneser-Ney, or lmplz when on the PATH",
    )
    build.add_argument("--overwrite", action="store_true", help="replace an existing CKPT/language_model/")
    args = parser.parse_args(argv)
    if args.order < 2:
        parser.error("--order must be at least 2 (KenLM reads bigram models and up)")
    return args


def _load_processor(model: str):
    from transformers import AutoProcessor

    from . import StackMixHTRProcessor

    folder = Path(model)
    if not (folder / "processor_config.json").is_file():
        raise LanguageModelBuildError(f"checkpoint {model}: no processor_config.json; give a save_pretrained folder")
    try:
        processor = AutoProcessor.from_pretrained(model)
    except Exception as error:  # transformers raises many types for a broken folder
        raise LanguageModelBuildError(
            f"checkpoint {model}: the processor cannot be loaded ({type(error).__name__}: {error})"
        ) from error
    if not isinstance(processor, StackMixHTRProcessor):
        raise LanguageModelBuildError(f"checkpoint {model}: not a StackMix-HTR processor ({type(processor).__name__})")
    return processor


def corpus_sentences(path: Path, processor, report: dict, training_texts: list[str] | None = None) -> Iterator[str]:
    """Corpus lines in the model's conventions (spelling rules fitted on `training_texts`); lines with
    characters the model cannot emit are counted and skipped."""
    rules = get_text_rules(processor.text_rules)
    spellings = rules.spelling_rules(training_texts)
    if spellings:
        report["spelling_rules"] = [rule.describe() for rule in spellings]
    charset = {token for token in processor.tokenizer.get_vocab() if len(token) == 1}
    for line in utf8_lines(path, "corpus"):
        text = rules.preprocess(rules.from_plain_text(line, spellings))
        if not text:
            continue
        if set(text) <= charset:
            report["corpus_lines"] += 1
            yield text
        else:
            report["corpus_lines_skipped"] += 1


def dataset_sentences(dataset: str, split: str, processor, report: dict) -> list[str]:
    import datasets

    try:
        texts = datasets.load_dataset(dataset, split=split)["text"]
    except Exception as error:  # missing folder, unknown split, no text column
        raise LanguageModelBuildError(
            f"dataset {dataset}, split {split!r}: cannot read its texts ({type(error).__name__}: {error})"
        ) from error
    sentences = [text for text in map(get_text_rules(processor.text_rules).preprocess, texts) if text]
    report["dataset_lines"] = len(sentences)
    return sentences


def estimate_with_lmplz(sentences: list[str], order: int, arpa_path: Path) -> None:
    lmplz = shutil.which("lmplz")
    if lmplz is None:
        raise LanguageModelBuildError("--estimator lmplz: KenLM's lmplz is not on the PATH; use --estimator python")
    text_path = arpa_path.with_suffix(".txt")
    text_path.write_text("".join(f"{sentence}\n" for sentence in sentences), encoding="utf-8")
    command = [lmplz, "--order", str(order), "--discount_fallback", "--text", str(text_path), "--arpa", str(arpa_path)]
    completed = subprocess.run(command, capture_output=True, text=True)
    text_path.unlink()
    if completed.returncode != 0:
        raise LanguageModelBuildError(f"lmplz failed (exit {completed.returncode}): {completed.stderr.strip()[-500:]}")


def estimate_with_python(sentences: list[str], order: int, arpa_path: Path) -> list[str]:
    model = KneserNeyModel(order)
    for sentence in sentences:
        model.add_sentence(sentence.split(" "))
    with arpa_path.open("w", encoding="utf-8") as handle:
        model.write_arpa(handle)
    return model.words


def build(args) -> dict:
    """Build CKPT/language_model/ and CKPT/alphabet.json; returns what went in."""
    checkpoint = Path(args.model)
    target = checkpoint / LANGUAGE_MODEL_DIR
    check_output_folder(target, "--model", overwrite=args.overwrite)
    corpus = Path(args.corpus)
    if not corpus.is_file():
        raise LanguageModelBuildError(f"corpus {corpus}: file not found")
    processor = _load_processor(args.model)
    estimator = args.estimator
    if estimator == "auto":
        estimator = "lmplz" if shutil.which("lmplz") else "python"

    report = {
        "corpus_lines": 0,
        "corpus_lines_skipped": 0,
        "dataset_lines": 0,
        "order": args.order,
        "estimator": estimator,
    }
    report["decoder"] = processor.decoder
    training = dataset_sentences(args.dataset, args.dataset_split, processor, report) if args.dataset else []
    sentences = list(corpus_sentences(corpus, processor, report, training)) + training
    if not sentences:
        raise LanguageModelBuildError(
            f"corpus {corpus}: no line is written in characters the model can emit; check the file and the checkpoint"
        )

    with atomic_folder(target) as staging:
        arpa_path = staging / f"{args.order}gram.arpa"
        if estimator == "lmplz":
            estimate_with_lmplz(sentences, args.order, arpa_path)
            words = sorted({word for sentence in sentences for word in sentence.split(" ")})
        else:
            words = estimate_with_python(sentences, args.order, arpa_path)
        (staging / UNIGRAMS_FILE).write_text("".join(f"{word}\n" for word in sorted(words)), encoding="utf-8")
        (staging / ATTRS_FILE).write_text(LanguageModelSettings().to_json(), encoding="utf-8")
        write_file_atomic(checkpoint / ALPHABET_FILE, alphabet_json(processor.ctc_labels).encode("utf-8"))
    report["words"] = len(words)
    report["sentences"] = len(sentences)
    return report


def build_from_arguments(argv=None) -> None:
    args = parse_args(argv)
    report = build(args)
    print(
        f"wrote {Path(args.model) / LANGUAGE_MODEL_DIR}: {report['order']}-gram model ({report['estimator']}) of "
        f"{report['sentences']} lines and {report['words']} distinct words; corpus lines kept {report['corpus_lines']}, "
        f"skipped {report['corpus_lines_skipped']} (characters the model cannot emit); dataset lines {report['dataset_lines']}"
    )
    for rule in report.get("spelling_rules", []):
        print(f"corpus spelling: {rule}")
    print("beam search uses it with decoder='beam'; eval.py --tune_lm chooses its weights and makes beam the default")
    if report["decoder"] == "beam":
        print(
            "note: this checkpoint already decodes by beam search; the new model starts with default weights until tuned"
        )


def main(argv=None) -> int:
    """Build; bad input is reported as one line on stderr with exit status 2."""
    return run_command(build_from_arguments, argv)


if __name__ == "__main__":
    sys.exit(main())
