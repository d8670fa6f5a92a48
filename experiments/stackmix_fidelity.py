"""How faithful StackMix lines are under each way of cutting slices: the fidelity ratio per option.

    python -m experiments.stackmix_fidelity --model outputs/ablation/all/s6955/base/best_cer \
        --dataset outputs/ablation/saintgall [--aligner CKPT] [--options ...] [--num 235]

For every option (alignment method x cut rule x frame mapping) it computes char masks of the train
split with the aligner (default: --model), builds a token bank at the reader's line height, and
scores it with `augmentations.stackmix.fidelity`: --model reads generated lines of the validation
texts and the real validation lines; fidelity_ratio = CER on generated / CER on real. An aligner
trained at a taller line height than the reader (e.g. `train_accelerate.py --init_from READER
--image_height 128`) gives rows of their own. Each row is kept in WORK/fidelity_record.json, so a
later run with other options or another aligner adds rows to the same table (same reader, dataset,
split, --num and --seed); the table goes into the `stackmix_fidelity` section of the results file,
the worst generated lines of each row into PNGs in --work_dir.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCTC, AutoProcessor

import modeling_stackmix_htr  # noqa: F401  (registers the Auto classes)
from augmentations.image_arrays import save_png
from augmentations.stackmix import StackMixGenerator, build_bank
from augmentations.stackmix.char_masks import compute_char_masks, save_char_masks
from augmentations.stackmix.fidelity import score_fidelity, worst_lines_grid
from data_builders.loading import load_dataset_folder_or_hub
from experiments.reporting import replace_section
from experiments.steps import Record
from stackmix_htr.recognition.frame_mapping import FrameMapping

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
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def load(path: str):
    return AutoModelForCTC.from_pretrained(path).eval(), AutoProcessor.from_pretrained(path)


def row_name(option: str, aligner_height: int, reader_height: int) -> str:
    return option if aligner_height == reader_height else f"{option}, aligned at {aligner_height} px"


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    reader, reader_processor = load(args.model)
    aligner, aligner_processor = load(args.aligner) if args.aligner else (reader, reader_processor)
    aligner_name = args.aligner or args.model
    train = load_dataset_folder_or_hub(args.dataset, split="train")
    scored = load_dataset_folder_or_hub(args.dataset, split=args.split)
    work = Path(args.work_dir)
    budget = {"model": args.model, "dataset": args.dataset, "split": args.split, "num": args.num, "seed": args.seed}
    record_path = work / "fidelity_record.json"
    record = Record(record_path, budget, ("rows",))
    height = aligner.config.image_height
    measured = None
    for option in args.options:
        method, cuts, mapping_kind = OPTIONS[option]
        name = row_name(option, height, reader.config.image_height)
        folder = work / name.replace(", ", "-").replace(" ", "")
        started = time.perf_counter()
        mapping = FrameMapping.nominal(aligner.config.width_stride) if mapping_kind == "nominal" else measured
        masks, report = compute_char_masks(aligner, aligner_processor, train, method, 16, None, cuts, mapping)
        if mapping_kind == "measured":
            measured = report.mapping  # measured once per aligner, reused by its other options
        save_char_masks(masks, report, folder / "char_masks", "train", {"model": aligner_name, "dataset": args.dataset},
                        overwrite=True)  # fmt: skip
        info = build_bank(folder / "char_masks", args.dataset, folder / "bank",
                          height=reader.config.image_height, seed=args.seed, overwrite=True)  # fmt: skip
        generator = StackMixGenerator.from_bank(folder / "bank", seed=args.seed)
        fidelity = score_fidelity(generator, reader, reader_processor, scored, args.num, args.seed)
        save_png(work / f"worst_{folder.name}.png", worst_lines_grid(fidelity))
        print(f"{name}: {report.summary()}\n  {fidelity.summary()} ({time.perf_counter() - started:.0f} s)", flush=True)
        record.data["rows"][name] = {
            "option": option,
            "aligner": aligner_name,
            "aligner_height": height,
            "mapping": [report.mapping.stride, report.mapping.offset] if mapping_kind == "measured" else None,
            "lines_with_boxes": report.with_boxes,
            "lines": report.lines,
            "bank_slices": info["num_slices"],
            "lines_scored": fidelity.lines,
            "real_cer": fidelity.real_cer,
            "generated_cer": fidelity.generated_cer,
            "command": shlex.join(["python", "-m", "experiments.stackmix_fidelity", *args.argv]),
        }
        record.save()
    write_section(record, args, Path(args.results))


def write_section(record: Record, args: argparse.Namespace, results: Path) -> None:
    rows = sorted(
        record.data["rows"].items(),
        key=lambda item: (item[1]["aligner_height"], list(OPTIONS).index(item[1]["option"])),
    )
    lines = [
        "## StackMix fidelity: how hard generated lines are to read",
        "",
        f"Written by `python -m experiments.stackmix_fidelity` on {datetime.date.today().isoformat()} from "
        f"`{Path(args.work_dir) / 'fidelity_record.json'}`. The reader `{args.model}` reads generated lines of the "
        f"{args.split} texts and the real {args.split} lines; fidelity ratio = CER on generated / CER on real (1.0: "
        "generated lines are as easy to read as real ones). Slices are cut from the train split by the aligner of "
        "each row; with a measured mapping, the input column that frame f reads is measured on that aligner (the "
        "nominal mapping assumes stride (f + 0.5)).",
        "",
        "| option (method-cuts-mapping) | aligner | frame f reads column | train lines with boxes | bank slices "
        "| lines scored | CER real | CER generated | fidelity ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows:
        mapping = f"{row['mapping'][0]:g} f {row['mapping'][1]:+.2f}" if row["mapping"] else "nominal"
        ratio = row["generated_cer"] / row["real_cer"] if row["real_cer"] > 0 else float("inf")
        lines.append(
            f"| {name} | `{row['aligner']}` ({row['aligner_height']} px) | {mapping} | "
            f"{row['lines_with_boxes']}/{row['lines']} | {row['bank_slices']} | {row['lines_scored']} | "
            f"{100 * row['real_cer']:.2f} | {100 * row['generated_cer']:.2f} | **{ratio:.2f}** |"
        )
    commands = dict.fromkeys(row["command"] for _, row in rows)  # in table order, each once
    lines += ["", "Commands:", "", *(f"- `{command}`" for command in commands), ""]
    replace_section(results, "stackmix_fidelity", "\n".join(lines))
    print(f"wrote the stackmix_fidelity section of {results}")


if __name__ == "__main__":
    main()
