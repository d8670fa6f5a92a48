"""stackmix-lm: build a word n-gram language model into a checkpoint for beam search.

    stackmix-lm build --model CKPT --corpus latin.txt [--dataset data/saintgall] [--order 3]
    stackmix-lm build --model CKPT --dataset data/my-collection     (its train transcriptions alone)

See `stackmix_htr.recognition.language_model` for what goes in; `eval.py --tune_lm` then chooses its
weights and makes beam search the checkpoint's decoder.
"""

import argparse
import sys
from pathlib import Path

from data_builders.loading import load_dataset_folder_or_hub
from modeling_stackmix_htr.ctc_beam_search import LANGUAGE_MODEL_DIR
from stackmix_htr.common.errors import InputError, run_command
from stackmix_htr.recognition.language_model import DEFAULT_ORDER, build


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="stackmix-lm", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser(
        "build",
        help="build CKPT/language_model/ from a corpus and, optionally, a dataset's train transcriptions",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    build.add_argument(
        "--model", required=True, help="checkpoint folder (save_pretrained output) that receives the model"
    )
    build.add_argument(
        "--corpus",
        default=None,
        help="text file, one line of running text per line (UTF-8); --dataset alone without it",
    )
    build.add_argument(
        "--dataset",
        default=None,
        help="dataset folder or Hub id whose train transcriptions join the corpus (or make the model alone)",
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
    if args.corpus is None and args.dataset is None:
        parser.error("give --corpus, --dataset (its train transcriptions), or both")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    texts = None
    if args.dataset:
        split = load_dataset_folder_or_hub(args.dataset, split=args.dataset_split)
        if "text" not in split.column_names:
            raise InputError(f"dataset {args.dataset}, split {args.dataset_split!r}: no text column")
        texts = split["text"]
    report = build(args.model, args.corpus, texts, args.order, args.estimator, args.overwrite)
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


def run(argv=None) -> int:
    """The console script: bad input is reported as one line on stderr with exit status 2."""
    return run_command(main, argv)


if __name__ == "__main__":
    sys.exit(run())
