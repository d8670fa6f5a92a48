"""The best Saint Gall recipe we can train on a CPU machine, over its seeds: a section of bench/RESULTS.md.

    python -m experiments.saintgall_best --runs outputs/saintgall outputs/saintgall_s6956

Reads the folders `experiments/pretrained/saintgall.sh` writes (one per seed: `finetune/`, `stackmix/`,
`eval_lm/`) and tables, per seed and as mean ± std over the seeds of each recipe (start, line height, the
budget of each stage, and the text rules), the test CER and WER of the final model without and with its language model,
the CER of the same predictions with their punctuation marks dropped (the test pages are transcribed without
them), the minutes each training stage spent and the lines it trained on (its compute), and plots the
validation CER of both stages against time.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
from pathlib import Path

import numpy as np

from experiments.reporting import cer_over_time_axes, mean_std, metrics_rows, replace_section, save_figure
from experiments.steps import REPO_ROOT, shown
from modeling_stackmix_htr.text_rules import get_text_rules
from stackmix_htr.metrics import count_edits

SECTION = "saintgall_best"
STAGES = ("finetune", "stackmix")
PAPER_CER = 3.65
UNPUNCTUATED = "saintgall_unpunctuated"  # how the validation and test pages are transcribed


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m experiments.saintgall_best", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="OUT folders of saintgall.sh, one per seed")
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "RESULTS.md")
    return parser.parse_args(argv)


def summarize(folder: Path) -> dict:
    test = json.loads((folder / "stackmix" / "test_results.json").read_text())
    lm = json.loads((folder / "eval_lm" / "results.json").read_text())
    checkpoint, with_lm = next(iter(lm["checkpoints"].items()))
    budgets = {stage: json.loads((folder / stage / "budget.json").read_text()) for stage in STAGES}
    minutes = {stage: sum(budget["spent"].values()) / 60 for stage, budget in budgets.items()}
    lines = {stage: budget["training_lines"] for stage, budget in budgets.items()}
    seed = training_args(folder / "stackmix")["seed"]
    start = training_args(folder / "finetune")["init_from"] or "random weights"
    planned = " + ".join(f"{budget['seconds'] / 60:.0f}" for budget in budgets.values())
    text_rules = json.loads((folder / "stackmix" / "best_cer" / "processor_config.json").read_text())["text_rules"]
    height = json.loads((folder / "stackmix" / "best_cer" / "config.json").read_text())["image_height"]
    return {"seed": seed, "recipe": f"{start}, {height} px, {planned} min, {text_rules}", "cer": test["cer"], "wer": test["wer"],
            "cer_lm": with_lm["cer"], "wer_lm": with_lm["wer"],
            "cer_unpunctuated": cer_unpunctuated(folder / "stackmix" / "test_predictions.csv"),
            "cer_lm_unpunctuated": cer_unpunctuated(folder / "eval_lm" / "predictions" / f"{checkpoint}.csv"),
            "minutes": minutes, "lines": lines}  # fmt: skip


def cer_unpunctuated(predictions: Path) -> float:
    """The CER of a predictions file with the punctuation marks dropped from its predictions, as the
    unpunctuated profile writes them (the test references have none)."""
    with predictions.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    drop_marks = get_text_rules(UNPUNCTUATED).postprocess
    return count_edits([drop_marks(row["prediction"]) for row in rows], [row["reference"] for row in rows], "char").rate


def training_args(run: Path) -> dict:
    """The training arguments a run's best_cer/ card records."""
    return json.loads((run / "best_cer" / "README.md").read_text().split("```json", 1)[1].split("```")[0])


def plot(runs: list[Path], path: Path) -> None:
    figure, axes = cer_over_time_axes(30, "training and validation minutes (one CPU thread)")
    for folder in runs:
        offset = 0.0
        for stage, style in zip(STAGES, ("--", "-")):
            rows = metrics_rows(folder / stage)
            points = [(offset + row["elapsed_seconds"] / 60, 100 * row["cer"]) for row in rows if "cer" in row]
            if points:
                axes.plot(*zip(*points), style, marker=".", label=f"{folder.name} {stage}")
                offset = points[-1][0]
    axes.axhline(PAPER_CER, color="grey", linewidth=0.8, label=f"paper (GPU): {PAPER_CER} % test CER")
    axes.legend(fontsize=7)
    save_figure(figure, path)


def main(argv=None) -> None:
    args = parse_args(argv)
    rows = [summarize(folder) for folder in args.runs]
    plot_path = args.results.with_name("saintgall_best_curves.png")
    plot(args.runs, plot_path)
    lines = [
        "## Saint Gall: the best recipe on a CPU machine",
        "",
        f"Written by `python -m experiments.saintgall_best` on {datetime.date.today().isoformat()} from "
        + ", ".join(f"`{shown(folder)}`" for folder in args.runs)
        + ". Recipe: `experiments/pretrained/saintgall.sh` (a first run from the start each row names, then "
        "StackMix + blots with a bank cut by that run's model, each for the minutes the row budgets, then a word "
        "3-gram model of the Latin corpus and the training transcriptions, weights tuned on validation), with the "
        "line height and text rules the row names; small preset, one CPU thread per run. Test split: 707 lines; "
        "rates in percent.",
        "",
        "| seed | start, line height, budget (minutes: first run + StackMix), text rules | test CER | test WER | "
        "CER with LM | WER with LM | CER, marks dropped | CER with LM, marks dropped | minutes spent | "
        "lines trained on |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rates = ("cer", "wer", "cer_lm", "wer_lm", "cer_unpunctuated", "cer_lm_unpunctuated")
    for row in rows:
        cells = [str(row["seed"]), row["recipe"], *(f"{100 * row[rate]:.2f}" for rate in rates)]
        cells += [" + ".join(f"{row[key][stage]:.0f}" for stage in STAGES) for key in ("minutes", "lines")]
        lines.append("| " + " | ".join(cells) + " |")
    for recipe in dict.fromkeys(row["recipe"] for row in rows):  # one mean per recipe, in the order of the rows
        seeds = [row for row in rows if row["recipe"] == recipe]
        if len(seeds) > 1:
            cells = ["mean ± std", recipe, *(mean_std([seed[rate] for seed in seeds]) for rate in rates)]
            cells += [
                f"{np.mean([sum(seed[key].values()) for seed in seeds]):.0f} per seed" for key in ("minutes", "lines")
            ]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Marks dropped: the same predictions scored with their punctuation marks removed. The database transcribes "
        "the punctuation glyph on its training pages only (716 marks on 468 lines) and on none of the validation and "
        "test pages, though they show them: a model taught the marks (text rules `saintgall`) is charged for every "
        "dot it reads there; one trained with `saintgall_unpunctuated` is taught without them.",
        "",
        f"Paper (ResNet34-BiLSTM-CTC, 128 x 2048, ImageNet start, GPU, 100-300 epochs): {PAPER_CER} % test CER.",
        "",
        f"![Validation CER against time]({plot_path.name})",
        "",
    ]
    replace_section(args.results, SECTION, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
