"""StackMix from the command line, in the order of its steps.

    python -m augmentations.stackmix char-masks --model CKPT --dataset DATASET --output_dir MASKS
    python -m augmentations.stackmix build-bank --char_masks MASKS --dataset DATASET --output_dir BANK
    python -m augmentations.stackmix score --bank BANK --model CKPT --dataset DATASET [--split validation] [--num N]
    python -m augmentations.stackmix generate --bank BANK --text "some text" --output line.png
    python -m augmentations.stackmix generate --bank BANK --corpus corpus.txt --num 1000 --output_dir OUT
    python -m augmentations.stackmix preview --bank BANK --corpus corpus.txt --output grid.png

`generate --num` writes OUT/images/*.png, OUT/marking.csv (sample_id,path,stage,text; stage=train)
and OUT/hf, the same lines as a dataset folder (built by `data_builders`' marking_csv builder).
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
from pathlib import Path

import torch

from data_builders.loading import load_dataset_folder_or_hub
from stackmix_htr.common.allocator import keep_large_blocks_in_heap
from stackmix_htr.common.atomic import atomic_folder, check_output_folder
from stackmix_htr.common.errors import InputError, run_command
from stackmix_htr.common.flags import with_current_spellings
from stackmix_htr.recognition.alignment import CUT_RULES

from ..image_arrays import save_png
from . import char_masks
from .bank import build_bank
from .corpus import DEFAULT_CORPUS_MIX, MAX_CORPUS_LENGTH, build_text_source
from .generator import StackMixGenerator
from .grid import render_grid

logger = logging.getLogger(__name__)
OLD_SPELLINGS = {"--height": "--image_height", "--out": "--output", "--n": "--num", "--worst_out": "--worst_output"}


def _texts(generator: StackMixGenerator, args):
    return build_text_source(
        generator.bank.texts, generator.characters, args.corpus, args.corpus_mix, args.text_rules, args.max_length
    )


def _generate_many(generator, texts, count: int, rng, max_tries: int = 20):
    """Yield (text, image) pairs, redrawing texts that cannot be rendered."""
    produced = 0
    while produced < count:
        for _ in range(max_tries):
            text = texts.sample(rng)
            image = generator.generate(text, rng)
            if image is not None:
                break
        else:
            raise InputError(
                f"no renderable text from {texts.source} in {max_tries} tries; give a corpus the bank can render"
            )
        produced += 1
        yield text, image


def _load_model(path: str, device: str):
    """Model (on `device`) and processor of --model; a problem is one line naming it."""
    from stackmix_htr.recognition.checkpoints import load_checkpoint

    checkpoint = load_checkpoint(path, label=f"--model {path}")
    return checkpoint.model.to(device), checkpoint.processor


def cmd_char_masks(args) -> None:
    keep_large_blocks_in_heap()
    check_output_folder(args.output_dir, overwrite=args.overwrite)  # fail before the slow part
    model, processor = _load_model(args.model, args.device)
    dataset = load_dataset_folder_or_hub(args.dataset, split=args.split)
    if args.max_lines is not None:
        dataset = dataset.select(range(min(args.max_lines, len(dataset))))
    mapping = char_masks.FrameMapping.nominal(model.config.width_stride) if args.frame_mapping == "nominal" else None
    rows, report = char_masks.compute_char_masks(
        model, processor, dataset, args.method, args.batch_size, args.min_score, args.cuts, mapping,
        args.char_offset, args.space_offset,
    )  # fmt: skip
    source = {"model": args.model, "dataset": args.dataset, "text_rules": processor.text_rules}
    char_masks.save_char_masks(rows, report, args.output_dir, args.split, source, args.overwrite)
    print(report.summary())
    print(f"wrote {args.output_dir}")


def cmd_build_bank(args) -> None:
    start = time.perf_counter()
    info = build_bank(
        args.char_masks,
        args.dataset,
        args.output_dir,
        split=args.split,
        height=args.image_height,
        max_token_length=args.max_token_length,
        max_slices_per_token=args.max_slices_per_token,
        max_lines_per_text=args.max_lines_per_text,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    print(
        f"bank {args.output_dir}: {info['num_lines']} lines, {info['num_slices']} slices, "
        f"{info['num_tokens']} tokens, {len(info['characters'])} characters "
        f"in {time.perf_counter() - start:.1f} s"
    )


def cmd_generate(args) -> None:
    generator = StackMixGenerator.from_bank(args.bank, seed=args.seed)
    if args.text is not None:
        if args.output is None:
            raise InputError("--text needs --output FILE.png")
        image = generator.generate(args.text)
        if image is None:
            missing = "".join(sorted(set(args.text) - generator.characters))
            raise InputError(f"cannot render {args.text!r}: characters not in the bank: {missing!r}")
        output = Path(args.output)
        check_output_folder(output.parent, "--output")
        save_png(output, image)
        print(f"wrote {args.output} ({image.shape[1]}x{image.shape[0]})")
        return
    if args.output_dir is None:
        raise InputError(
            "give --text and --output, or --num and --output_dir (with --corpus, or recombined bank texts)"
        )
    out_dir = check_output_folder(args.output_dir, overwrite=args.overwrite)
    texts = _texts(generator, args)
    with atomic_folder(out_dir) as tmp_dir:
        (tmp_dir / "images").mkdir()
        rows = []
        for index, (text, image) in enumerate(_generate_many(generator, texts, args.num, generator.rng)):
            sample_id = f"stackmix-{index:06d}"
            save_png(tmp_dir / "images" / f"{sample_id}.png", image)
            rows.append({"sample_id": sample_id, "path": f"images/{sample_id}.png", "stage": "train", "text": text})
        with open(tmp_dir / "marking.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["sample_id", "path", "stage", "text"])
            writer.writeheader()
            writer.writerows(rows)
        import data_builders

        data_builders.build("marking_csv", tmp_dir, tmp_dir / "hf", text_rules=args.text_rules, progress=False)
    print(f"wrote {args.num} lines to {out_dir} (marking.csv, images/, hf/) from {texts.source}")


def cmd_preview(args) -> None:
    generator = StackMixGenerator.from_bank(args.bank, seed=args.seed)
    texts = _texts(generator, args)
    lines = list(_generate_many(generator, texts, args.num, generator.rng))
    save_png(args.output, render_grid(lines))
    print(f"wrote {args.output} with {len(lines)} lines from {texts.source}")


def cmd_score(args) -> None:
    from .fidelity import score_fidelity, worst_lines_grid

    generator = StackMixGenerator.from_bank(args.bank)
    model, processor = _load_model(args.model, args.device)
    dataset = load_dataset_folder_or_hub(args.dataset, split=args.split)
    report = score_fidelity(generator, model, processor, dataset, args.num, args.seed, batch_size=args.batch_size)
    out = Path(args.worst_output or Path(args.bank) / f"fidelity_worst_{args.split}.png")
    save_png(out, worst_lines_grid(report))
    print(report.summary())
    print(f"wrote the {len(report.worst)} worst generated lines to {out}")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m augmentations.stackmix",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    masks = commands.add_parser(
        "char-masks",
        help="character boxes of a split's lines from a trained model (the input of build-bank)",
        description=char_masks.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    masks.add_argument("--model", required=True, help="trained checkpoint folder (save_pretrained + processor)")
    masks.add_argument("--dataset", required=True, help="dataset folder or Hub id (columns sample_id, image, text)")
    masks.add_argument("--split", default="train", help="split to align (default: train)")
    masks.add_argument("--output_dir", required=True, help="where to write the char-masks dataset folder")
    masks.add_argument(
        "--method", choices=char_masks.METHODS, default="forced", help="forced (every line) or greedy (exact lines)"
    )
    masks.add_argument("--batch_size", type=int, default=8)
    masks.add_argument(
        "--min_score", type=float, default=None, help="drop lines whose mean per-frame log-prob is lower"
    )
    masks.add_argument(
        "--cuts",
        choices=CUT_RULES,
        default="ink",
        help="ink: the least-inked column between characters; midpoint: halfway between their spans (the paper's rule)",
    )
    masks.add_argument(
        "--frame_mapping",
        choices=char_masks.FRAME_MAPPINGS,
        default="measured",
        help="where frame f looks: measured on the model (gradient saliency of its CTC spikes), "
        "or nominal (centred on column stride * (f + 0.5))",
    )
    masks.add_argument("--char_offset", type=float, default=0.0, help="pixels added to boundaries between characters")
    masks.add_argument("--space_offset", type=float, default=0.0, help="pixels added to boundaries next to a space")
    masks.add_argument("--max_lines", type=int, default=None, help="use only the first N lines of the split")
    masks.add_argument("--device", default=device)
    masks.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    masks.set_defaults(run=cmd_char_masks)

    bank = commands.add_parser("build-bank", help="build a token bank from char masks and their dataset")
    bank.add_argument("--char_masks", required=True, help="char-masks folder (the char-masks command)")
    bank.add_argument("--dataset", required=True, help="the dataset the char masks were computed on")
    bank.add_argument("--split", default="train")
    bank.add_argument("--output_dir", required=True, help="bank folder to write")
    bank.add_argument("--image_height", type=int, default=128, help="slice height in pixels (the model's line height)")
    bank.add_argument("--max_token_length", type=int, default=8)
    bank.add_argument("--max_slices_per_token", type=int, default=100)
    bank.add_argument("--max_lines_per_text", type=int, default=50)
    bank.add_argument("--seed", type=int, default=0, help="order in which lines fill the per-token caps")
    bank.add_argument("--overwrite", action="store_true")
    bank.set_defaults(run=cmd_build_bank)

    for name, help_text, run in (
        ("generate", "render one text (--text) or a corpus sample (--num) as handwriting", cmd_generate),
        ("preview", "a PNG grid of generated lines with their texts", cmd_preview),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--bank", required=True, help="token bank folder")
        command.add_argument(
            "--corpus", default=None, help="text file, one line per text (default: recombined bank transcriptions)"
        )
        command.add_argument(
            "--corpus_mix",
            type=float,
            default=DEFAULT_CORPUS_MIX,
            help="share of texts from --corpus; the rest recombined",
        )
        command.add_argument(
            "--text_rules", default="none", help="text-rules profile applied to corpus lines (with its spelling rules)"
        )
        command.add_argument("--max_length", type=int, default=MAX_CORPUS_LENGTH, help="longest corpus line kept")
        command.add_argument("--seed", type=int, default=0)
        command.set_defaults(run=run)
        if name == "generate":
            command.add_argument("--text", default=None, help="text to render into --output")
            command.add_argument("--output", default=None, help="PNG file for --text")
            command.add_argument("--num", type=int, default=100, help="number of lines for --output_dir")
            command.add_argument("--output_dir", default=None, help="folder for a generated dataset")
            command.add_argument("--overwrite", action="store_true")
        else:
            command.add_argument("--output", required=True, help="PNG file to write")
            command.add_argument("--num", type=int, default=8, help="number of lines")
    score = commands.add_parser(
        "score", help="fidelity: a trained model reads generated and real lines of the same texts"
    )
    score.add_argument("--bank", required=True, help="token bank folder")
    score.add_argument("--model", required=True, help="trained checkpoint folder that reads the lines")
    score.add_argument("--dataset", required=True, help="dataset whose split gives the texts and the real lines")
    score.add_argument("--split", default="validation", help="a split the model and the bank never saw")
    score.add_argument("--num", type=int, default=None, help="lines to score (default: every renderable line)")
    score.add_argument("--seed", type=int, default=0, help="line choice and generation")
    score.add_argument("--batch_size", type=int, default=16)
    score.add_argument("--device", default="cpu")
    score.add_argument(
        "--worst_output", default=None, help="PNG of the worst generated lines (default: BANK/fidelity_worst_SPLIT.png)"
    )
    score.set_defaults(run=cmd_score)
    return parser.parse_args(with_current_spellings(argv, OLD_SPELLINGS))


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.run(args)


def run(argv=None) -> int:
    """The console script: bad input is reported as one line on stderr with exit status 2."""
    return run_command(main, argv)


if __name__ == "__main__":
    sys.exit(run())
