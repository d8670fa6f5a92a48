"""The best Saint Gall recipe we can train on a CPU machine, over its seeds: a section of bench/RESULTS.md.

    python -m experiments.saintgall_best --runs outputs/saintgall outputs/saintgall_s6956

Reads the folders `experiments/pretrained/saintgall.sh` writes (one per seed: `finetune/`, `stackmix/`,
`eval_lm/`) and tables, per seed and as mean ± std over the seeds of each recipe (start and the budget of
each stage), the test CER and WER of the final model without and with its language model, the minutes each
training stage spent and the lines it trained on (its compute), and plots the validation CER of both stages
against time.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import numpy as np

from experiments.reporting import cer_over_time_axes, mean_std, metrics_rows, replace_section, save_figure
from experiments.steps import REPO_ROOT, shown

SECTION = "saintgall_best"
STAGES = ("finetune", "stackmix")
PAPER_CER = 3.65


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m experiments.saintgall_best", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="OUT folders of saintgall.sh, one per seed")
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "RESULTS.md")
    return parser.parse_args(argv)


def summarize(folder: Path) -> dict:
    test = json.loads((folder / "stackmix" / "test_results.json").read_text())
    lm = json.loads((folder / "eval_lm" / "results.json").read_text())
    with_lm = next(iter(lm["checkpoints"].values()))
    budgets = {stage: json.loads((folder / stage / "budget.json").read_text()) for stage in STAGES}
    minutes = {stage: sum(budget["spent"].values()) / 60 for stage, budget in budgets.items()}
    lines = {stage: budget["training_lines"] for stage, budget in budgets.items()}
    seed = training_args(folder / "stackmix")["seed"]
    start = training_args(folder / "finetune")["init_from"] or "random weights"
    planned = " + ".join(f"{budget['seconds'] / 60:.0f}" for budget in budgets.values())
    return {"seed": seed, "recipe": f"{start}, {planned} min", "cer": test["cer"], "wer": test["wer"],
            "cer_lm": with_lm["cer"], "wer_lm": with_lm["wer"], "decoding": with_lm["decoding"],
            "minutes": minutes, "lines": lines}  # fmt: skip


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
        "StackMix + blots with a bank cut by that run's model, each for the minutes the row budgets, then a word 3-gram model of the Latin corpus and the "
        "training transcriptions, weights tuned on validation); small preset, 64 px, one CPU thread per run. "
        "Test split: 707 lines; rates in percent.",
        "",
        "| seed | start, budget: first run + StackMix | test CER | test WER | test CER with LM | test WER with LM | "
        "minutes spent: first run + StackMix | lines trained on: first run + StackMix |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['seed']} | {row['recipe']} | {100 * row['cer']:.2f} | {100 * row['wer']:.2f} | {100 * row['cer_lm']:.2f} | "
            f"{100 * row['wer_lm']:.2f} | {row['minutes']['finetune']:.0f} + {row['minutes']['stackmix']:.0f} | "
            f"{row['lines']['finetune']} + {row['lines']['stackmix']} |"
        )
    for recipe in dict.fromkeys(row["recipe"] for row in rows):  # one mean per recipe, in the order of the rows
        seeds = [row for row in rows if row["recipe"] == recipe]
        if len(seeds) > 1:
            lines.append(
                f"| mean ± std | {recipe} | {mean_std([r['cer'] for r in seeds])} | {mean_std([r['wer'] for r in seeds])} | "
                f"{mean_std([r['cer_lm'] for r in seeds])} | {mean_std([r['wer_lm'] for r in seeds])} | "
                f"{np.mean([sum(r['minutes'].values()) for r in seeds]):.0f} per seed | "
                f"{np.mean([sum(r['lines'].values()) for r in seeds]):.0f} per seed |"
            )
    lines += [
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
