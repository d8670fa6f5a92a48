"""How faithful StackMix lines are under each way of cutting slices: the fidelity ratio per option.

    python bench/stackmix_fidelity.py --model outputs/ablation/all/s6955/base/best_cer \
        --dataset outputs/ablation/saintgall [--aligner CKPT] [--num 235]

For every option (alignment method x cut rule x frame mapping) it computes char masks of the train
split with the aligner (default: --model), builds a token bank at the reader's line height, and
scores it with `augmentations.stackmix.fidelity`: --model reads generated lines of the validation
texts and the real validation lines; fidelity_ratio = CER on generated / CER on real. The table goes
into the `stackmix_fidelity` section of the results file, the worst generated lines of each option
into PNGs beside it in --work_dir.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from pathlib import Path

import torch
from report_sections import replace_section  # bench/ is the script's folder, hence on sys.path
from transformers import AutoModelForCTC, AutoProcessor

import modeling_stackmix_htr  # noqa: F401  (registers the Auto classes)
from augmentations.stackmix import StackMixGenerator, build_bank
from augmentations.stackmix.char_masks import compute_char_masks, save_char_masks
from augmentations.stackmix.fidelity import score_fidelity, worst_lines_grid
from augmentations.stackmix.frame_mapping import FrameMapping
from data_builders.loading import load_dataset_folder_or_hub

REPO_ROOT = Path(__file__).resolve().parents[1]
# name -> (method, cuts, frame mapping); the first is the paper's rule, the last the default
OPTIONS = {
    "greedy-midpoint-nominal": ("greedy", "midpoint", "nominal"),
    "forced-midpoint-nominal": ("forced", "midpoint", "nominal"),
    "forced-midpoint-measured": ("forced", "midpoint", "measured"),
    "greedy-ink-measured": ("greedy", "ink", "measured"),
    "forced-ink-measured": ("forced", "ink", "measured"),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", required=True, help="trained checkpoint that reads the lines (and aligns by default)"
    )
    parser.add_argument("--aligner", default=None, help="checkpoint whose alignment cuts the slices (default: --model)")
    parser.add_argument("--dataset", required=True, help="built dataset with train and validation splits")
    parser.add_argument("--split", default="validation", help="texts and real lines scored")
    parser.add_argument("--num", type=int, default=None, help="lines scored per option (default: all renderable)")
    parser.add_argument("--options", nargs="+", choices=list(OPTIONS), default=list(OPTIONS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work_dir", default="outputs/fidelity", help="char masks, banks and worst-line PNGs")
    parser.add_argument("--results", default=str(REPO_ROOT / "bench" / "RESULTS.md"))
    return parser.parse_args(argv)


def load(path: str):
    return AutoModelForCTC.from_pretrained(path).eval(), AutoProcessor.from_pretrained(path)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    reader, reader_processor = load(args.model)
    aligner, aligner_processor = load(args.aligner) if args.aligner else (reader, reader_processor)
    train = load_dataset_folder_or_hub(args.dataset, split="train")
    scored = load_dataset_folder_or_hub(args.dataset, split=args.split)
    work = Path(args.work_dir)
    rows = []
    measured = None
    for name in args.options:
        method, cuts, mapping_kind = OPTIONS[name]
        started = time.perf_counter()
        mapping = FrameMapping.nominal(aligner.config.width_stride) if mapping_kind == "nominal" else measured
        masks, report = compute_char_masks(aligner, aligner_processor, train, method, 16, None, cuts, mapping)
        if mapping_kind == "measured":
            measured = report.mapping  # measured once, reused by the other options
        save_char_masks(masks, report, work / name / "char_masks", "train", {"model": args.aligner or args.model,
                        "dataset": args.dataset}, overwrite=True)  # fmt: skip
        info = build_bank(work / name / "char_masks", args.dataset, work / name / "bank",
                          height=reader.config.image_height, seed=args.seed, overwrite=True)  # fmt: skip
        generator = StackMixGenerator.from_bank(work / name / "bank", seed=args.seed)
        fidelity = score_fidelity(generator, reader, reader_processor, scored, args.num, args.seed)
        worst_lines_grid(fidelity).save(work / f"worst_{name}.png")
        seconds = time.perf_counter() - started
        print(f"{name}: {report.summary()}\n  {fidelity.summary()} ({seconds:.0f} s)", flush=True)
        rows.append((name, report, info, fidelity))

    mapping = f"{measured.stride:g} f {measured.offset:+.2f}" if measured else "not measured"
    lines = [
        "## StackMix fidelity: how hard generated lines are to read",
        "",
        f"Written by `bench/stackmix_fidelity.py` on {datetime.date.today().isoformat()}. The reader `{args.model}` reads",
        f"generated lines of the {args.split} texts and the real {args.split} lines; fidelity ratio = CER on generated /",
        "CER on real (1.0: generated lines are as easy to read as real ones). Slices cut from the train split by",
        f"`{args.aligner or args.model}`; the frame-to-column mapping measured on it: input column = {mapping} (the",
        "nominal mapping assumes stride (f + 0.5)).",
        "",
        "| option (method-cuts-mapping) | train lines with boxes | bank slices | lines scored | CER real | CER generated | fidelity ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, report, info, fidelity in rows:
        lines.append(
            f"| {name} | {report.with_boxes}/{report.lines} | {info['num_slices']} | {fidelity.lines} | "
            f"{100 * fidelity.real_cer:.2f} | {100 * fidelity.generated_cer:.2f} | **{fidelity.ratio:.2f}** |"
        )
    lines += [
        "",
        "Command: `" + shlex.join(["python", "bench/stackmix_fidelity.py", *(argv or sys.argv[1:])]) + "`",
        "",
    ]
    replace_section(Path(args.results), "stackmix_fidelity", "\n".join(lines))
    print(f"wrote the stackmix_fidelity section of {args.results}")


if __name__ == "__main__":
    main()
