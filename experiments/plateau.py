"""How long does a fresh model sit on the CTC blank plateau? Epochs until validation CER < 90 %.

    python -m experiments.plateau --dataset outputs/exp/saintgall [--runs baseline blank_bias_prior ...] [--jobs 2]

A model that emits only blanks has 100 % CER; how many epochs that lasts depends on the start and
the schedule. Each setting of the grid below is one train_accelerate.py run (default: the small
preset at its 64 px, the plain augmentations, batch 16) with the schedule of a full run of
--schedule_epochs epochs (so the warm-up and the peak learning rate are those that run would use),
stopped with SIGTERM (its state saved) as soon as an epoch's validation CER is below --threshold, or
after --max_epochs epochs. Printed per setting: the epochs until CER < threshold and the wall time of
the run up to the end of that epoch (start-up, training and validation), the epochs run, their wall
time and the CER of the last one. To match the runs of experiments/ablation.py on a CPU with bf16, add
`--mixed_precision bf16 --channels_last` to --train_args.

Budget: at most (number of settings) x --max_epochs epochs; on Saint Gall at 64 px an epoch of the
small preset takes about 70 s of one CPU thread (bench/RESULTS.md), so the default grid of 11
settings with --max_epochs 20 needs at most about 4.3 hours of one thread, 2.1 h with --jobs 2 on
two cores. WORK/plateau_record.json keeps the budget and each finished setting: running again
skips finished settings, and an interrupted one starts afresh (a clean wall time); another budget
needs another --work_dir. The table goes to WORK/plateau.md and to the "plateau" section of --results
(bench/RESULTS.md); `--runs` with finished settings only rewrites them without training.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from experiments.reporting import format_duration, replace_section, validation_curve
from experiments.steps import REPO_ROOT, Record, offline_env, shown, shown_command, threads_per_job
from stackmix_htr.common.atomic import write_file_atomic

# setting -> train_accelerate.py arguments added to the common ones. Each changes the paper's recipe
# ("baseline": AdamW 2e-4, OneCycleLR to 1e-3 with 10 % warm-up, batch 16, zero output bias, no gradient
# clipping, which every run is given explicitly); train_accelerate.py's default start is now
# blank_bias_prior, the winner, and it clips gradients to norm 1.
PAPER_START = ["--blank_bias", "0", "--max_grad_norm", "0"]
GRID = {
    "baseline": [],
    "blank_bias_prior": ["--blank_bias", "prior"],
    "blank_bias_prior_batch_8": ["--blank_bias", "prior", "--train_batch_size", "8"],
    "blank_bias_prior_warmup_2pct": ["--blank_bias", "prior", "--pct_start", "0.02"],
    "blank_bias_-3": ["--blank_bias", "-3"],
    "warmup_2pct": ["--pct_start", "0.02"],
    "warmup_30pct": ["--pct_start", "0.3"],
    "peak_lr_3e-4": ["--max_learning_rate", "3e-4"],
    "peak_lr_3e-3": ["--max_learning_rate", "3e-3"],
    "batch_8": ["--train_batch_size", "8"],
    "batch_32": ["--train_batch_size", "32"],
}
STOP_GRACE_SECONDS = 120  # a stopped run saves its state before it exits


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dataset", required=True, help="a built dataset folder (e.g. python -m data_builders saintgall)"
    )
    parser.add_argument("--work_dir", default="outputs/plateau", help="one folder per setting, the record, the table")
    parser.add_argument(
        "--runs", nargs="+", choices=list(GRID), default=list(GRID), help="settings to run (default: all)"
    )
    parser.add_argument(
        "--preset", choices=["paper", "small", "tiny"], default="small", help="model preset (default: small)"
    )
    parser.add_argument("--schedule_epochs", type=int, default=50, help="epochs of the schedule (default: 50)")
    parser.add_argument(
        "--max_epochs", type=int, default=20, help="stop a setting after this many epochs (default: 20)"
    )
    parser.add_argument(
        "--threshold", type=float, default=0.9, help="validation CER that ends the plateau (default: 0.9)"
    )
    parser.add_argument("--seed", type=int, default=6955, help="seed of every run (default: 6955)")
    parser.add_argument(
        "--train_args",
        default="--use_augs --num_workers 1",
        help="arguments every run gets, e.g. add '--mixed_precision bf16 --channels_last' (default: %(default)s)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="settings trained at once, each with cores / jobs threads")
    parser.add_argument("--python", default=sys.executable, help="interpreter of the training runs")
    parser.add_argument(
        "--results",
        default=str(REPO_ROOT / "bench" / "RESULTS.md"),
        help="Markdown file whose plateau section is written",
    )
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if not Path(args.dataset).is_dir():
        parser.error(f"--dataset: {args.dataset} is not a folder")
    if args.jobs < 1 or args.max_epochs < 1 or args.schedule_epochs < args.max_epochs:
        parser.error("need --jobs >= 1 and 1 <= --max_epochs <= --schedule_epochs")
    args.dataset = Path(args.dataset).resolve()
    args.work_dir = Path(args.work_dir).resolve()
    return args


class PlateauStudy:
    """Runs the settings, stops each at the threshold, keeps WORK/plateau_record.json."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.record_path = args.work_dir / "plateau_record.json"
        self.budget = {
            "dataset": str(args.dataset),
            "preset": args.preset,
            "schedule_epochs": args.schedule_epochs,
            "max_epochs": args.max_epochs,
            "threshold": args.threshold,
            "seed": args.seed,
            "train_args": args.train_args,
            "jobs": args.jobs,
        }
        self.record = Record(self.record_path, self.budget, ("runs",))
        self.env = offline_env(OMP_NUM_THREADS=str(threads_per_job(args.jobs)))

    def command(self, name: str) -> list[str]:
        a = self.args
        return [
            a.python, "train_accelerate.py", "--dataset", shown(a.dataset), "--output_dir", shown(a.work_dir / name),
            "--model_preset", a.preset, "--num_train_epochs", str(a.schedule_epochs), "--seed", str(a.seed),
            "--test_split", "", "--report_to", "jsonl", *PAPER_START, *shlex.split(a.train_args), *GRID[name],
        ]  # fmt: skip

    def start(self, name: str) -> tuple[subprocess.Popen, float, object]:
        run_dir = self.args.work_dir / name
        if run_dir.exists():  # an interrupted setting starts afresh
            shutil.rmtree(run_dir)
        (self.args.work_dir / "logs").mkdir(parents=True, exist_ok=True)
        log = (self.args.work_dir / "logs" / f"{name}.log").open("w")
        command = self.command(name)
        print(f"[plateau] {name}\n$ {shown_command(command)}", flush=True)
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return process, time.perf_counter(), log

    def outcome(self, name: str) -> tuple[int | None, list[tuple[int, float]]]:
        """(epochs until the CER fell below the threshold or None, the validation curve so far)."""
        curve = validation_curve(self.args.work_dir / name)
        reached = next((epoch + 1 for epoch, cer in curve if cer < self.args.threshold), None)
        return reached, curve

    def run_all(self) -> None:
        pending = [name for name in self.args.runs if not self.record.data["runs"].get(name, {}).get("done")]
        for name in self.args.runs:
            if name not in pending:
                print(f"[plateau] {name}: finished earlier", flush=True)
        running = {}
        try:
            while pending or running:
                while pending and len(running) < self.args.jobs:
                    name = pending.pop(0)
                    process, started, log = self.start(name)
                    running[name] = {"process": process, "started": started, "log": log, "seen": 0, "stopping": None}
                time.sleep(0.5)
                for name, run in list(running.items()):
                    if self.watch(name, run):
                        del running[name]
        finally:
            for run in running.values():  # a failed or interrupted study leaves no training behind
                signal_group(run["process"], signal.SIGKILL)
        self.report()

    def watch(self, name: str, run: dict) -> bool:
        """Follow one run: note each new epoch, stop the run once it is done. True once it has exited."""
        process, now = run["process"], time.perf_counter()
        exited = process.poll() is not None
        reached, curve = self.outcome(name)  # read after the poll: an exited run's rows are all there
        if len(curve) > run["seen"]:
            run["seen"] = len(curve)
            entry = self.record.data["runs"].setdefault(name, {})
            entry.update(
                args=GRID[name],
                epochs_run=len(curve),
                seconds_run=now - run["started"],
                last_cer=curve[-1][1],
                done=False,
            )
            if reached is not None and "seconds_to_threshold" not in entry:
                entry.update(epochs_to_threshold=reached, seconds_to_threshold=now - run["started"])
            print(f"[plateau] {name}: epoch {len(curve)}, validation CER {100 * curve[-1][1]:.2f} %", flush=True)
        finished = reached is not None or len(curve) >= self.args.max_epochs
        if not exited:
            if finished and run["stopping"] is None:
                signal_group(process, signal.SIGTERM)
                run["stopping"] = now
            elif run["stopping"] is not None and now - run["stopping"] > STOP_GRACE_SECONDS:
                signal_group(process, signal.SIGKILL)
            return False
        run["log"].close()
        if not finished:
            log = shown(self.args.work_dir / "logs" / f"{name}.log")
            raise SystemExit(
                f"[plateau] {name} exited with code {process.returncode} before it was done (output: {log})"
            )
        entry = self.record.data["runs"][name]
        entry.setdefault("epochs_to_threshold", None)
        entry.update(done=True, command=shown_command(self.command(name)))
        self.record.save()
        return True

    def report(self) -> None:
        a = self.args
        rows = [
            f"| setting | arguments | epochs to CER < {100 * a.threshold:.0f} % | wall time to it | epochs run "
            "| wall time run | last CER |",
            "|---|---|---|---|---|---|---|",
        ]
        finished = {
            name: self.record.data["runs"][name] for name in GRID if self.record.data["runs"].get(name, {}).get("done")
        }
        for name, entry in finished.items():
            reached = entry["epochs_to_threshold"]
            epochs = f"{reached}" if reached is not None else f"> {entry['epochs_run']}"
            seconds = format_duration(entry["seconds_to_threshold"]) if reached is not None else "–"
            cells = [name, f"`{shlex.join(GRID[name])}`" if GRID[name] else "–", epochs, seconds,
                     str(entry["epochs_run"]), format_duration(entry["seconds_run"]),
                     f"{100 * entry['last_cer']:.2f} %"]  # fmt: skip
            rows.append("| " + " | ".join(cells) + " |")
        reached = {
            name: entry["epochs_to_threshold"] for name, entry in finished.items() if entry["epochs_to_threshold"]
        }
        fewest = min(reached.values(), default=None)
        winners = ", ".join(name for name, epochs in reached.items() if epochs == fewest)
        summary = [f"Fewest epochs to the threshold: {winners} ({fewest}).", ""] if reached else []
        lines = [
            f"Plateau study: {shown(a.dataset)}, preset {a.preset}, schedule of {a.schedule_epochs} epochs, "
            f"at most {a.max_epochs} per setting, seed {a.seed}, {a.jobs} run(s) at once with "
            f"OMP_NUM_THREADS={threads_per_job(a.jobs)}, common arguments `{a.train_args}`. Every setting adds its "
            f"arguments to the paper's recipe (`{shlex.join(PAPER_START)}`); wall times depend on what else the "
            "machine ran, epochs do not.",
            "",
            *rows,
            "",
            *summary,
            f"Command: `{shlex.join(['python', '-m', 'experiments.plateau', *a.argv])}`",
        ]
        text = "\n".join(lines) + "\n"
        write_file_atomic(a.work_dir / "plateau.md", text.encode("utf-8"))
        replace_section(Path(a.results), "plateau", "## The CTC blank plateau of a fresh model\n\n" + text)
        print("\n" + text, flush=True)


def signal_group(process: subprocess.Popen, signum: int) -> None:
    """Signal a run's process group (the training process, its DataLoader workers, a launcher's children)."""
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def main(argv=None) -> None:
    args = parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    PlateauStudy(args).run_all()


if __name__ == "__main__":
    main()
