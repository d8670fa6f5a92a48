"""Fine-tuning a pretrained recognizer against training from scratch: a section of bench/RESULTS.md.

    TRAIN_MINUTES=30 experiments/pretrain/run.sh data pretrain finetune scratch
    python -m experiments.finetuning --work_dir outputs/pretrain

Reads the train_accelerate.py folders that experiments/pretrain/run.sh writes under --work_dir: `pretrain`
(validated on its first dataset), `finetune` and `scratch` (the target collection; test figures of
their best_cer/ from test_results.json, or from eval/results.json when a time limit stopped the run).
A pretraining that started from a checkpoint of an earlier run (PRETRAIN_FROM) is listed with that run
before it, stage by stage, so the table holds the whole pretraining budget. Per run: its data, start and
seed, epochs and training time, the first epoch whose validation CER is below --threshold (the end of the
CTC blank plateau), the best validation CER and the test CER and WER. The validation curves of the
two target runs (and of any --other_runs on the target), per epoch and per minute of training, go into
bench/finetuning_curves.png beside the results file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
from pathlib import Path

from experiments.reporting import metrics_rows, replace_section, save_figure
from stackmix_htr.training.checkpointing import read_training_arguments

REPO_ROOT = Path(__file__).resolve().parents[1]  # where run.sh trains, hence what relative paths start from
SCRATCH, FINETUNE = "from scratch", "fine-tuned from pretraining"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", default="outputs/pretrain", help="OUT of experiments/pretrain/run.sh")
    parser.add_argument(
        "--threshold", type=float, default=0.9, help="validation CER that ends the plateau (default: 0.9)"
    )
    parser.add_argument(
        "--other_runs",
        nargs="*",
        default=[],
        help="further train_accelerate.py folders on the target (e.g. another schedule or start), tabled and plotted "
        "after the two target runs under their folder's path",
    )
    parser.add_argument("--results", default=str(REPO_ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def read_test(run_dir: Path) -> dict | None:
    """{"cer", "wer", "lines"} of best_cer/ on the test split, or None when it was not scored."""
    if (run_dir / "test_results.json").is_file():
        test = json.loads((run_dir / "test_results.json").read_text())
        return {"cer": test["cer"], "wer": test["wer"], "lines": test["num_lines"]}
    if (run_dir / "eval" / "results.json").is_file():
        results = json.loads((run_dir / "eval" / "results.json").read_text())
        test = results["checkpoints"]["best_cer"]
        return {"cer": test["cer"], "wer": test["wer"], "lines": test["n_samples"]}
    return None


def summarize(run_dir: Path, threshold: float) -> dict:
    rows = metrics_rows(run_dir)
    validated = [row for row in rows if "cer" in row]
    best = min(validated, key=lambda row: row["cer"], default=None)
    leaves = next((row["epoch"] + 1 for row in validated if row["cer"] < threshold), None)
    card = run_dir / "best_cer" / "README.md"
    arguments = read_training_arguments(card) if card.is_file() else {}
    datasets = arguments.get("dataset") or []
    return {
        "rows": rows,
        "datasets": [datasets] if isinstance(datasets, str) else datasets,
        "init_from": arguments.get("init_from"),
        "blank_bias": arguments.get("blank_bias"),  # a fresh model's initial output bias (older cards: none)
        "seed": arguments.get("seed"),
        "epochs": len(rows),
        "schedule_epochs": arguments.get("num_train_epochs"),
        "seconds": rows[-1].get("elapsed_seconds") if rows else None,
        "plateau_epochs": leaves,
        "best": (best["cer"], best["epoch"] + 1) if best else None,
        "test": read_test(run_dir),
    }


def pretraining_stages(run_dir: Path, threshold: float) -> dict[str, dict]:
    """The pretraining run and the runs it started from through --init_from, earliest first, by label."""
    stages = [summarize(run_dir, threshold)]
    seen = {run_dir.resolve()}
    while stages[0]["init_from"]:
        start = Path(stages[0]["init_from"])
        earlier = (start if start.is_absolute() else REPO_ROOT / start).parent  # CKPT is RUN/best_cer
        if earlier.resolve() in seen or not (earlier / "metrics.jsonl").is_file():
            break  # a checkpoint of no run folder (e.g. a Hub model): the chain starts there
        seen.add(earlier.resolve())
        stages.insert(0, summarize(earlier, threshold))
    if len(stages) == 1:
        return {"pretraining": stages[0]}
    return {f"pretraining, stage {number}": stage for number, stage in enumerate(stages, 1)}


def minutes(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f} min"


def table(runs: dict[str, dict], threshold: float) -> list[str]:
    lines = [
        f"| run | data | start | seed | epochs (of schedule) | training time | first epoch with validation CER < "
        f"{100 * threshold:.0f} % | best validation CER (epoch) | test CER | test WER |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, run in runs.items():
        data = ", ".join(f"`{Path(dataset).name}`" for dataset in run["datasets"]) or "–"
        start = f"`{run['init_from']}`" if run["init_from"] else "random"
        if run["blank_bias"] is not None:
            start += f" (output bias: {run['blank_bias']})"
        best = f"{100 * run['best'][0]:.2f} ({run['best'][1]})" if run["best"] else "–"
        test = run["test"]
        cells = [
            label, data, start, str(run["seed"] if run["seed"] is not None else "–"), f"{run['epochs']} ({run['schedule_epochs'] or '?'})", minutes(run["seconds"]),
            str(run["plateau_epochs"] or f"> {run['epochs']}"), best,
            f"{100 * test['cer']:.2f}" if test else "–", f"{100 * test['wer']:.2f}" if test else "–",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def plot_curves(runs: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_epoch, by_minute) = plt.subplots(1, 2, figsize=(12, 4.2), dpi=110)
    for label, run in runs.items():
        validated = [row for row in run["rows"] if "cer" in row]
        cers = [100 * row["cer"] for row in validated]
        legend = label.strip("`")  # a folder's path is code in the table, plain text in the legend
        by_epoch.plot([row["epoch"] + 1 for row in validated], cers, marker=".", label=legend)
        if all("elapsed_seconds" in row for row in validated):
            by_minute.plot([row["elapsed_seconds"] / 60 for row in validated], cers, marker=".", label=legend)
    for axes, label in ((by_epoch, "epoch"), (by_minute, "minutes of training and validation")):
        axes.set_xlabel(label)
        axes.set_ylabel("validation CER (%)")
        axes.set_ylim(0, 100)
        axes.grid(alpha=0.3)
        axes.legend()
    save_figure(figure, path)


def main(argv=None) -> None:
    args = parse_args(argv)
    work = Path(args.work_dir)
    missing = [name for name in ("scratch", "finetune") if not (work / name / "metrics.jsonl").is_file()]
    if missing:
        raise SystemExit(
            f"{work}: needs the finetune and scratch runs of experiments/pretrain/run.sh (missing: {missing})"
        )
    runs = {}
    if (work / "pretrain" / "metrics.jsonl").is_file():
        runs.update(pretraining_stages(work / "pretrain", args.threshold))
    runs[SCRATCH] = summarize(work / "scratch", args.threshold)
    runs[FINETUNE] = summarize(work / "finetune", args.threshold)
    others = {}
    for folder in map(Path, args.other_runs):
        if not (folder / "metrics.jsonl").is_file():
            raise SystemExit(f"--other_runs: {folder} holds no metrics.jsonl of a train_accelerate.py run")
        others[f"`{folder}`"] = summarize(folder, args.threshold)
    runs.update(others)
    results = Path(args.results)
    plot_path = results.with_name("finetuning_curves.png")
    plot_curves({label: runs[label] for label in (SCRATCH, FINETUNE, *others)}, plot_path)
    target = runs[SCRATCH]["datasets"]
    lines = [
        "## Fine-tuning a pretrained recognizer against training from scratch",
        "",
        f"Written by `python -m experiments.finetuning` on {datetime.date.today().isoformat()} from the runs of "
        f"`experiments/pretrain/run.sh` in `{work}`. Target collection: {', '.join(f'`{d}`' for d in target)}. "
        "Training time: training and validation, start-up excluded; test figures of each run's `best_cer/`.",
        "",
        *table(runs, args.threshold),
        "",
        f"![Validation CER of the target runs]({plot_path.name})",
        "",
        "Command: `" + shlex.join(["python", "-m", "experiments.finetuning", *args.argv]) + "`",
        "",
    ]
    replace_section(results, "finetuning", "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote the finetuning section of {results} and {plot_path}")


if __name__ == "__main__":
    main()
