"""A new collection on a budget: a hand the pretrained model never saw, trained from scratch and from the
pretrained recognizer under the same wall-clock budgets, two at a time on one thread each.

    python -m experiments.new_collection --target outputs/general/data/lectaurep-dufour-1 \\
        --pretrained outputs/general/pretrain/best_cer --budgets 60 30 15 --seeds 6955 6956 [--kraken outputs/kraken/m60]

Every (budget, seed) trains the two starts side by side (`OMP_NUM_THREADS=1`, no DataLoader workers), so
both see the same machine (`--jobs 1`: one run at a time, for a machine whose other core is busy with another
one-thread job); each run is `train_accelerate.py --max_train_minutes B` (the small preset, plain
augmentations, clipping: the defaults), from random weights with the output bias at the class prior, or
`--init_from PRETRAINED --vocab_resize union`. Each run scores its best_cer/ on the test split itself.
With `--language_model`, the pretrained runs of the largest budget also get a word language model of the
target's training transcriptions, tuned on its validation split (`stackmix-lm build`, `eval.py --tune_lm`).
`--kraken DIR` adds kraken's row from a `ketos train` / `ketos test` run on the same pages (its summary.txt).

The record (WORK/record.json) keeps the commands, times and results; the same command resumes. The table
goes to the "new_collection" section of bench/RESULTS.md (`--report_only`: from the runs that exist, nothing run).
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from pathlib import Path

from experiments.reporting import (
    cer_over_time_axes,
    format_duration,
    mean_std,
    metrics_rows,
    replace_section,
    save_figure,
)
from experiments.steps import REPO_ROOT, Record, offline_env, run_steps, shown

STARTS = {"scratch": "from scratch (random weights, prior output bias)", "pretrained": "pretrained start"}
SECTION = "new_collection"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m experiments.new_collection", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=Path, required=True, help="the new collection, built (train/validation/test)")
    parser.add_argument("--pretrained", required=True, help="the recognizer the pretrained runs start from")
    parser.add_argument("--budgets", type=float, nargs="+", default=[60, 30, 15], help="minutes per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[6955, 6956])
    parser.add_argument("--work_dir", type=Path, default=Path("outputs/new_collection"))
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "RESULTS.md")
    parser.add_argument(
        "--language_model", action="store_true", help="LM rows for the largest budget's pretrained runs"
    )
    parser.add_argument("--kraken", type=Path, default=None, help="a kraken run folder with summary.txt")
    parser.add_argument("--train_args", default="", help="more train_accelerate.py flags for every run")
    parser.add_argument(
        "--jobs", type=int, choices=(1, 2), default=2, help="runs at once, one thread each (2: the two starts)"
    )
    parser.add_argument("--report_only", action="store_true", help="write the report from the runs that exist")
    return parser.parse_args(argv)


def run_dir(args, minutes: float, seed: int, start: str) -> Path:
    return args.work_dir / f"m{minutes:g}" / f"s{seed}" / start


def training_step(args, minutes: float, seed: int, start: str) -> tuple[str, list, tuple]:
    output_dir = run_dir(args, minutes, seed, start)
    command = [
        sys.executable, "train_accelerate.py", "--dataset", shown(args.target), "--output_dir", shown(output_dir),
        "--max_train_minutes", f"{minutes:g}", "--seed", seed, "--use_augs", "--group_by_width", "--num_workers", 0,
        *(["--model_preset", "small"] if start == "scratch" else ["--init_from", args.pretrained, "--vocab_resize", "union"]),
        *args.train_args.split(),
    ]  # fmt: skip
    resume = ("--resume_from_checkpoint", "latest") if (output_dir / "state").is_dir() else ()
    return f"train m{minutes:g} s{seed} {start}", command, resume


def language_model_steps(args, minutes: float, seed: int) -> list[tuple[str, list, tuple]]:
    model = run_dir(args, minutes, seed, "pretrained") / "best_cer"
    out = run_dir(args, minutes, seed, "pretrained") / "eval_lm"
    build = [sys.executable, "-m", "stackmix_htr.cli.lm", "build", "--model", shown(model),
             "--dataset", shown(args.target), "--overwrite"]  # fmt: skip
    tune = [sys.executable, "eval.py", "--model", shown(model), "--dataset", shown(args.target), "--split", "test",
            "--tune_lm", "--output_dir", shown(out), "--device", "cpu", "--overwrite"]  # fmt: skip
    return [(f"lm build m{minutes:g} s{seed}", build, ()), (f"lm tune m{minutes:g} s{seed}", tune, ())]


def kraken_row(folder: Path) -> dict:
    """CER and time limit of a kraken run from its summary.txt ("test errors: E", "test characters: C",
    "limit: N min")."""
    text = (folder / "summary.txt").read_text()
    errors, characters, limit = (
        float(re.search(rf"{label}: ([0-9.]+)", text).group(1)) for label in ("test errors", "test characters", "limit")
    )
    return {"cer": errors / characters, "minutes": limit}


def results(args) -> dict:
    rows = {}
    for minutes in args.budgets:
        for start in STARTS:
            entries = []
            for seed in args.seeds:
                folder = run_dir(args, minutes, seed, start)
                if not (folder / "test_results.json").is_file():
                    continue
                test = json.loads((folder / "test_results.json").read_text())
                budget = json.loads((folder / "budget.json").read_text())
                entries.append({"seed": seed, "cer": test["cer"], "wer": test["wer"],
                                "used": sum(budget["spent"].values()) / 60, "curve": metrics_rows(folder)})  # fmt: skip
            rows[(minutes, start)] = entries
    return rows


def target_lines(rows: dict) -> list[str]:
    """The issue's targets, each judged on the runs that exist or named as not measured."""

    def mean_cer(minutes: float, start: str) -> float | None:
        entries = rows.get((minutes, start)) or []
        return sum(e["cer"] for e in entries) / len(entries) if entries else None

    def judged(claim: str, held: bool | None) -> str:
        return f"- {claim}: " + ("not measured (runs missing)" if held is None else "met" if held else "missed")

    pretrained_30, pretrained_60 = mean_cer(30, "pretrained"), mean_cer(60, "pretrained")
    scratch_60 = mean_cer(60, "scratch")
    lines = [
        judged("pretrained start at 30 minutes below scratch at 60 minutes",
               None if None in (pretrained_30, scratch_60) else pretrained_30 < scratch_60),
        judged("pretrained start at 60 minutes at most half of scratch's CER",
               None if None in (pretrained_60, scratch_60) else pretrained_60 <= scratch_60 / 2),
    ]  # fmt: skip
    for (minutes, start), entries in rows.items():
        for entry in entries:
            last_lr = next((row["lr"] for row in reversed(entry["curve"]) if "lr" in row), float("nan"))
            lines.append(
                f"- {minutes:g} min, {start}, seed {entry['seed']}: used {entry['used']:.2f} min "
                f"({100 * entry['used'] / minutes:.1f} % of the budget), last learning rate {last_lr:.2g}"
            )
    return lines


def plot(rows: dict, path: Path) -> None:
    figure, axes = cer_over_time_axes(100)
    colours = {"scratch": "tab:orange", "pretrained": "tab:blue"}
    for (minutes, start), entries in rows.items():
        for entry in entries:
            points = [(row["elapsed_seconds"] / 60, 100 * row["cer"]) for row in entry["curve"] if "cer" in row]
            if points:
                axes.plot(*zip(*points), color=colours[start], alpha=0.35 + 0.5 * (minutes == max(m for m, _ in rows)),
                          marker=".", label=f"{start}, {minutes:g} min" if entry["seed"] == entries[0]["seed"] else None)  # fmt: skip
    axes.legend(fontsize=7)
    save_figure(figure, path)


def write_report(args, record: Record) -> None:
    rows = results(args)
    plot_path = args.results.with_name("new_collection_curves.png")
    plot(rows, plot_path)
    lines = [
        "## A new collection on a budget",
        "",
        f"Written by `python -m experiments.new_collection` on {datetime.date.today().isoformat()}. Target: "
        f"`{shown(args.target)}` (a hand the pretrained model never saw); pretrained start: `{args.pretrained}`. "
        "Each run trained with one CPU thread while another one-thread run used the machine's other core (the "
        "two starts of a budget and seed side by side, or with `--jobs 1` one at a time beside other work), with "
        "`train_accelerate.py --max_train_minutes` (small preset, plain augmentations, gradients clipped). "
        'Test figures of each run\'s best validation checkpoint, in percent; "used": the minutes the run '
        "accounted (start-up, training, validation, checkpoints, test scoring).",
        "",
        "| budget | start | seeds | test CER | test WER | minutes used |",
        "|---|---|---|---|---|---|",
    ]
    for (minutes, start), entries in rows.items():
        if entries:
            used = ", ".join(f"{entry['used']:.1f}" for entry in entries)
            lines.append(
                f"| {minutes:g} min | {STARTS[start]} | {', '.join(str(e['seed']) for e in entries)} | "
                f"{mean_std([e['cer'] for e in entries])} | {mean_std([e['wer'] for e in entries])} | {used} |"
            )
    if args.language_model:
        top = max(args.budgets)
        lm = {}
        for seed in args.seeds:
            path = run_dir(args, top, seed, "pretrained") / "eval_lm" / "results.json"
            if path.is_file():
                lm[seed] = next(iter(json.loads(path.read_text())["checkpoints"].values()))
        if lm:
            lines.append(
                f"| {top:g} min | pretrained start + word LM of the training transcriptions (tuned on validation) | "
                f"{', '.join(map(str, lm))} | {mean_std([r['cer'] for r in lm.values()])} | "
                f"{mean_std([r['wer'] for r in lm.values()])} | (LM built and tuned after the run) |"
            )
    if args.kraken and (args.kraken / "summary.txt").is_file():
        kraken = kraken_row(args.kraken)
        lines.append(
            f"| {kraken['minutes']:g} min | kraken 7.1.1 `ketos train` (its defaults), 1 thread, same pages | 1 run | "
            f"{100 * kraken['cer']:.2f} | – | (wall limit) |"
        )
    lines += ["", "Targets, and how each run spent its budget (a run must end within 5 % of it, annealed):", ""]
    lines += target_lines(rows)
    lines += ["", f"![Validation CER against time]({plot_path.name})", "", "Commands:", "", "```"]
    lines += [
        f"# {step} ({format_duration(e['seconds'])})\n{e['command']}"
        for step, e in record.data["steps"].items()
        if e["done"]
    ]
    lines += ["```", ""]
    replace_section(args.results, SECTION, "\n".join(lines))


def training_batches(args, record: Record) -> list[list[tuple[str, list, tuple]]]:
    """The training steps not yet done, largest budget first, in groups of `--jobs` run at once."""
    todo = [
        step
        for minutes in sorted(args.budgets, reverse=True)
        for seed in args.seeds
        for step in (training_step(args, minutes, seed, start) for start in STARTS)
        if not record.step_done(step[0])
    ]
    return [todo[i : i + args.jobs] for i in range(0, len(todo), args.jobs)]


def main(argv=None) -> None:
    args = parse_args(argv)
    budget = {"target": shown(args.target), "pretrained": args.pretrained, "train_args": args.train_args}
    record = Record(args.work_dir / "record.json", budget)
    if not args.report_only:
        run_all(args, record)
    write_report(args, record)
    print(f"wrote the {SECTION} section of {shown(args.results)}")


def run_all(args, record: Record) -> None:
    env = offline_env(OMP_NUM_THREADS="1")  # every run has one thread, whether it runs alone or beside another
    for batch in training_batches(args, record):
        run_steps(record, batch, env, args.work_dir / "logs")
    if args.language_model:
        for seed in args.seeds:
            for step in language_model_steps(args, max(args.budgets), seed):
                if not record.step_done(step[0]):
                    run_steps(record, [step], env, args.work_dir / "logs")


if __name__ == "__main__":
    main()
