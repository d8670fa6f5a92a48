"""The paper's ablation on Saint Gall: base, +blots, +StackMix and +blots+StackMix with one budget.

    python bench/ablation.py [--preset small] [--epochs 150] [--batch_size 16] [--experiments ...]
    python bench/ablation.py --launcher "accelerate launch" --preset paper --mixed_precision bf16

Every step is a subprocess whose exact command is printed and listed in the results file:

1. build Saint Gall with `python -m data_builders saintgall` (skipped when WORK/saintgall exists);
2. train `base` with train_accelerate.py;
3. char masks of the train split from base's `best_cer/` (forced CTC alignment), then the
   StackMix token bank;
4. train `blots`, `stackmix` and `blots_stackmix` with the same preset, epochs, batch size and seed;
   with --jobs N, up to N training runs go at once (`base` with `blots`, then the StackMix pair), each
   with its share of the CPU threads and its output in WORK/logs/;
5. score each experiment's `best_cer/` on the test split with eval.py;
6. write RESULTS.md (test CER/WER/accuracy, the paper's figure, training curves, commands).

All four experiments use the plain augmentations (CLAHE, rotation, JPEG): in the paper and its
reference implementation "base" is the recognizer trained with them, and blots and StackMix are
added on top. Training picks its device through Accelerate; char masks and evaluation use --device.

WORK/ablation_record.json keeps the budget, commands and timings of finished steps. Running the
script again with the same budget skips finished steps and resumes an interrupted training run
from its saved state; a different budget needs another --work_dir.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from data_builders.writer import write_file_atomic

REPO_ROOT = Path(__file__).resolve().parents[1]

# name -> (row label, uses blots, uses StackMix), in the order they run
EXPERIMENTS = {
    "base": ("base (augs)", False, False),
    "blots": ("+blots", True, False),
    "stackmix": ("+StackMix", False, True),
    "blots_stackmix": ("+blots+StackMix", True, True),
}
PAPER_SAINT_GALL_CER = 3.65  # % test CER, StackMix + blots, ResNet34-BiLSTM-CTC (arXiv 2108.11667)
STACKMIX_P = 0.8
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends the default to help texts that do not explain it themselves."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        if action.default in (None, argparse.SUPPRESS) or "default" in help_text:
            return help_text
        return f"{help_text} (default: %(default)s)"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--raw", default="../shared/datasets/saintgalldb-v1.0", help="raw Saint Gall download")
    parser.add_argument("--corpus", default="../shared/corpora/latin_ecclesiastical.txt", help="corpus for StackMix")
    parser.add_argument("--work_dir", default="outputs/ablation", help="dataset, runs, char masks, bank, evaluations")
    parser.add_argument("--results", default="bench/RESULTS.md", help="the Markdown report (the plot goes next to it)")
    parser.add_argument("--preset", choices=["paper", "small", "tiny"], default="small", help="model preset")
    parser.add_argument("--image_height", type=int, default=None, help="line height override (default: the preset's)")
    parser.add_argument("--epochs", type=int, default=150, help="epochs per experiment")
    parser.add_argument("--batch_size", type=int, default=16, help="training lines per batch and process")
    parser.add_argument("--seed", type=int, default=6955, help="seed of every run and of the bank")
    parser.add_argument("--mixed_precision", choices=["no", "bf16", "fp16"], default=None, help="passed to training (default: accelerate config)")
    parser.add_argument("--num_workers", type=int, default=2, help="DataLoader workers of training and evaluation")
    parser.add_argument(
        "--jobs", type=int, default=1, help="training runs at once; on a CPU each gets cores / jobs threads"
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter of the data, mask, bank, eval steps")
    parser.add_argument(
        "--launcher", default=None, help='runs train_accelerate.py, e.g. "accelerate launch" (default: --python)'
    )
    parser.add_argument("--device", default=None, help="device of char masks and evaluation (default: cuda if present)")
    parser.add_argument("--experiments", nargs="+", choices=list(EXPERIMENTS), default=list(EXPERIMENTS), help="subset")
    parser.add_argument("--max_train_samples", type=int, default=None, help="first N train lines (smoke runs)")
    parser.add_argument("--max_eval_samples", type=int, default=None, help="first N validation/test lines (smoke runs)")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    # Defaults are relative to the repository root, user paths to the current directory.
    for name in ("raw", "corpus", "work_dir", "results"):
        value = Path(getattr(args, name))
        default = Path(parser.get_default(name))
        base = REPO_ROOT if value == default else Path.cwd()
        setattr(args, name, (base / value).resolve())
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    args.launcher = shlex.split(args.launcher) if args.launcher else [args.python]
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def shown(path: Path) -> str:
    """A path as commands show it: relative to the repository root (their working directory) when inside it."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def threads_per_job(jobs: int) -> int:
    """CPU threads each of `jobs` runs at once gets, so that together they use every core once."""
    return max(1, (os.cpu_count() or 1) // jobs)


def describe_training_device() -> str:
    """The accelerator Accelerate trains on by default: the GPUs when there are any."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"CPU ({os.cpu_count()} cores)"


class Ablation:
    """Runs the steps, records their commands and wall times in WORK/ablation_record.json."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = args.work_dir
        self.dataset = self.work / "saintgall"
        self.char_masks = self.work / "char_masks"
        self.bank = self.work / "bank"
        self.record_path = self.work / "ablation_record.json"
        self.budget = {
            "preset": args.preset,
            "image_height": args.image_height,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "mixed_precision": args.mixed_precision,
            "jobs": args.jobs,
            "max_train_samples": args.max_train_samples,
            "max_eval_samples": args.max_eval_samples,
        }
        self.record = {"budget": self.budget, "steps": {}}
        if self.record_path.is_file():
            self.record = json.loads(self.record_path.read_text())
            if self.record["budget"] != self.budget:
                raise SystemExit(
                    f"{self.work} holds runs with another budget {self.record['budget']}; "
                    f"this one is {self.budget}. Use another --work_dir or remove {self.work}."
                )
        self.env = {**os.environ, **{key: os.environ.get(key, value) for key, value in OFFLINE_ENV.items()}}

    def step_done(self, step: str) -> bool:
        return self.record["steps"].get(step, {}).get("done", False)

    def run(self, step: str, command: list, resume_flags: tuple[str, ...] = ()) -> None:
        """Run one step in the foreground."""
        self.run_together([(step, command, resume_flags)])

    def run_together(self, steps: list[tuple[str, list, tuple[str, ...]]]) -> None:
        """Run steps at once, each as (name, command, resume flags appended but not recorded), and add
        their wall times to the record. Several at once write to WORK/logs/ and share the CPU threads."""
        env, logs = self.env, {}
        if len(steps) > 1:
            env = {**env, "OMP_NUM_THREADS": str(threads_per_job(len(steps)))}
            (self.work / "logs").mkdir(parents=True, exist_ok=True)
        running = {}
        for step, command, resume_flags in steps:
            command = [str(part) for part in command]
            entry = self.record["steps"].setdefault(step, {"seconds": 0.0})
            entry.update(command=shlex.join(command), done=False)
            resumed = " (resumed)" if resume_flags else ""
            print(f"\n[ablation] {step}{resumed}\n$ {shlex.join([*command, *resume_flags])}", flush=True)
            output = None
            if len(steps) > 1:
                logs[step] = self.work / "logs" / (step.replace(" ", "_") + ".log")
                output = logs[step].open("a")
                print(f"[ablation] {step}: output in {shown(logs[step])}", flush=True)
            errors = subprocess.STDOUT if output else None
            process = subprocess.Popen([*command, *resume_flags], cwd=REPO_ROOT, env=env, stdout=output, stderr=errors)
            running[step] = (process, time.perf_counter(), output)
        failed = []
        while running:
            time.sleep(0.2)
            for step, (process, started, output) in list(running.items()):
                if process.poll() is None:
                    continue
                del running[step]
                if output:
                    output.close()
                entry = self.record["steps"][step]
                entry["seconds"] += time.perf_counter() - started
                entry["done"] = process.returncode == 0
                self.save_record()
                if entry["done"]:
                    print(f"[ablation] {step} done in {entry['seconds']:.1f} s", flush=True)
                else:
                    where = f" (output: {shown(logs[step])})" if step in logs else ""
                    code = process.returncode
                    failed.append(f"step {step!r} failed with exit code {code}{where}: {entry['command']}")
        if failed:
            raise SystemExit("[ablation] " + "\n[ablation] ".join(failed))

    def save_record(self) -> None:
        write_file_atomic(self.record_path, (json.dumps(self.record, indent=2) + "\n").encode())

    # --------------------------------------------------------------------------------- steps

    def build_dataset(self) -> None:
        if self.dataset.is_dir():
            print(f"[ablation] using the built dataset {shown(self.dataset)}", flush=True)
            return
        a = self.args
        command = [a.python, "-m", "data_builders", "saintgall", "--raw", shown(a.raw), "--out", shown(self.dataset),
                   "--skip-invalid", "--no-progress"]  # fmt: skip
        self.run("build", command)

    def training_step(self, name: str) -> tuple[str, list, tuple[str, ...]] | None:
        """The train step of one experiment for run_together, or None when it finished earlier."""
        step = f"train {name}"
        if self.step_done(step):
            print(f"[ablation] {step}: finished earlier", flush=True)
            return None
        a = self.args
        _, use_blots, use_stackmix = EXPERIMENTS[name]
        output_dir = self.work / name
        command = [
            *a.launcher, "train_accelerate.py", "--dataset", shown(self.dataset), "--output_dir", shown(output_dir),
            "--model_preset", a.preset, "--num_train_epochs", a.epochs, "--train_batch_size", a.batch_size,
            "--seed", a.seed, "--num_workers", a.num_workers, "--use_augs",
            "--test_split", "",  # the test split is scored by eval.py, with the as-ASR metrics too
        ]  # fmt: skip
        if use_blots:
            command += ["--use_blots"]
        if use_stackmix:
            command += ["--stackmix_bank", shown(self.bank), "--corpus", shown(a.corpus), "--stackmix_p", STACKMIX_P]
        if a.mixed_precision == "bf16":
            # channels-last kernels only with bf16: the fp32 convolution backward of torch 2.13's CPU
            # build aborts on channels-last tensors with few channels (the tiny preset).
            command += ["--channels_last"]
        for flag in ("image_height", "mixed_precision", "max_train_samples", "max_eval_samples"):
            if getattr(a, flag) is not None:
                command += [f"--{flag}", getattr(a, flag)]
        interrupted = (output_dir / "state" / "training_progress.json").is_file()
        return step, command, ("--resume_from_checkpoint", "latest") if interrupted else ()

    def build_stackmix_bank(self) -> None:
        """Char masks of the train split from base's best_cer/ (forced alignment), then the token bank."""
        a = self.args
        base = self.work / "base" / "best_cer"
        if not base.is_dir():
            raise SystemExit(f"StackMix needs the base model {base}: run the base experiment first")
        if not self.step_done("char masks"):
            command = [
                a.python, "-m", "augmentations.char_masks", "--model", shown(base), "--dataset", shown(self.dataset),
                "--output_dir", shown(self.char_masks), "--method", "forced", "--device", a.device, "--overwrite",
            ]  # fmt: skip
            if a.max_train_samples is not None:  # the lines the base model trained on
                command += ["--max_lines", a.max_train_samples]
            self.run("char masks", command)
        if not self.step_done("bank"):
            height = model_config(a).image_height
            command = [
                a.python, "-m", "augmentations.stackmix", "build-bank", "--char_masks", shown(self.char_masks),
                "--dataset", shown(self.dataset), "--output_dir", shown(self.bank), "--height", height,
                "--seed", a.seed, "--overwrite",
            ]  # fmt: skip
            self.run("bank", command)

    def evaluate(self, name: str) -> None:
        step = f"eval {name}"
        if self.step_done(step):
            return
        a = self.args
        command = [
            a.python, "eval.py", "--model", shown(self.work / name / "best_cer"), "--dataset", shown(self.dataset),
            "--split", "test", "--output_dir", shown(self.work / f"eval_{name}"), "--device", a.device,
            "--num_workers", a.num_workers, "--overwrite",
        ]  # fmt: skip
        if a.max_eval_samples is not None:
            command += ["--max_eval_samples", a.max_eval_samples]
        self.run(step, command)

    def run_all(self) -> None:
        started = time.perf_counter()
        self.build_dataset()
        chosen = [name for name in EXPERIMENTS if name in self.args.experiments]
        # The StackMix runs need the bank, which needs base's model: they form the second wave.
        for wants_stackmix in (False, True):
            wave = [name for name in chosen if EXPERIMENTS[name][2] == wants_stackmix]
            if wave and wants_stackmix:
                self.build_stackmix_bank()
            for first in range(0, len(wave), self.args.jobs):
                steps = [self.training_step(name) for name in wave[first : first + self.args.jobs]]
                self.run_together([step for step in steps if step is not None])
            for name in wave:
                self.evaluate(name)
        write_report(self, self.args.results)
        print(f"\n[ablation] wrote {self.args.results} in {time.perf_counter() - started:.1f} s", flush=True)


# ------------------------------------------------------------------------------------ report


def model_config(args: argparse.Namespace):
    """The model configuration every run trains: the preset with the --image_height override."""
    from modeling_stackmix_htr import StackMixHTRConfig

    overrides = {"image_height": args.image_height} if args.image_height else {}
    return StackMixHTRConfig.from_preset(args.preset, **overrides)


def validation_curve(run_dir: Path) -> list[tuple[int, float]]:
    """(epoch, validation CER) from a run's metrics.jsonl; a resumed run's repeated epoch keeps its last row."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
                rows[int(row["epoch"])] = float(row["cer"])
            except (ValueError, KeyError, TypeError) as error:
                raise SystemExit(f"{path}:{number}: not a metrics row with epoch and cer ({error})") from None
    return sorted(rows.items())


def count_unfit_lines(run_dir: Path) -> int:
    """Lines a run found too long for its output frames; training writes the list only when there are some."""
    path = run_dir / "unfit_lines.json"
    return len(json.loads(path.read_text())) if path.is_file() else 0


def plot_curves(curves: dict[str, list[tuple[int, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    for name, curve in curves.items():
        if curve:
            epochs, cers = zip(*curve)
            marker = "." if len(curve) < 40 else None
            axes.plot([e + 1 for e in epochs], [100 * cer for cer in cers], marker=marker, label=EXPERIMENTS[name][0])
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation CER (%)")
    axes.set_title("Saint Gall: validation CER per epoch")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    write_file_atomic(path, buffer.getvalue())


def read_card_metadata(readme: Path) -> dict:
    """The YAML front matter of a dataset card."""
    import yaml

    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return {}
    return yaml.safe_load(text.split("---", 2)[1]) or {}


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def lines_used(count: int | None) -> str:
    return "all" if count is None else f"the first {count}"


def format_duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def write_report(ablation: Ablation, path: Path) -> None:

    a, work, steps = ablation.args, ablation.work, ablation.record["steps"]
    plot_path = path.with_name("ablation_curves.png")
    evaluated = [name for name in EXPERIMENTS if ablation.step_done(f"eval {name}")]
    curves = {name: validation_curve(work / name) for name in evaluated}
    plot_curves(curves, plot_path)

    config = model_config(a)
    tests, test_lines = {}, None
    for name in evaluated:
        results = json.loads((work / f"eval_{name}" / "results.json").read_text())
        tests[name] = next(iter(results["checkpoints"].values()))
        test_lines = results["n_samples"]
    rows = []
    for name, test in tests.items():
        best_epoch, best_cer = min(curves[name], key=lambda item: item[1]) if curves[name] else (None, None)
        best = f"{percent(best_cer)} ({best_epoch + 1})" if best_cer is not None else "–"
        rates = [percent(test[key]) for key in ("cer", "wer", "acc", "cer_asr", "wer_asr")]
        change = f"{100 * (test['cer'] - tests['base']['cer']):+.2f}" if name != "base" and "base" in tests else "–"
        cells = [EXPERIMENTS[name][0], *rates, change, best, format_duration(steps[f"train {name}"]["seconds"])]
        rows.append("| " + " | ".join(cells) + " |")
    paper_label = "paper: StackMix+blots (ResNet34-BiLSTM-CTC, 128 x 2048)"
    paper_cells = [paper_label, f"{PAPER_SAINT_GALL_CER:.2f}", *["–"] * 7]

    lines = [
        "# Ablation on Saint Gall: handwritten blots and StackMix",
        "",
        f"Generated by `bench/ablation.py` on {datetime.date.today().isoformat()}. Rates in percent; test figures are",
        "those of each run's best validation-CER checkpoint (`best_cer/`), scored by `eval.py`.",
        "",
        "## Budget",
        "",
        f"- device: {describe_training_device()}; training launcher `{shlex.join(a.launcher)}`, mixed precision "
        f"`{a.mixed_precision or 'accelerate default'}`; char masks and evaluation on `{a.device}`",
        *([f"- {a.jobs} training runs at a time (`--jobs {a.jobs}`: base with +blots, then the two StackMix runs), "
           f"each with `OMP_NUM_THREADS={threads_per_job(a.jobs)}`"] if a.jobs > 1 else []),
        f"- model preset `{a.preset}` ({config.image_height} x {config.max_width} px input), {a.epochs} epoch(s), "
        f"batch size {a.batch_size}, seed {a.seed}; optimizer and schedule: train_accelerate.py's defaults "
        "(the paper's AdamW + OneCycleLR)",
        f"- data: Saint Gall official page splits, {lines_used(a.max_train_samples)} train lines, "
        f"{lines_used(a.max_eval_samples)} validation lines, {test_lines if test_lines is not None else '–'} test lines",
        "- vocabulary: train_accelerate.py's default, the characters of the train and validation transcriptions",
        f"- train and validation lines needing more CTC frames than the model outputs for their width: "
        f"{count_unfit_lines(work / 'base')} (train_accelerate.py's `unfit_lines.json`; one frame per "
        f"{config.width_stride} px)",
        "- every experiment trains with the plain augmentations (`--use_augs`: CLAHE, rotation, JPEG), as the paper's "
        "base model does; blots and StackMix (p = 0.8, Latin corpus) are added on top",
        "",
        "## Test results",
        "",
        "| experiment | CER | WER | accuracy | CER as ASR | WER as ASR | CER vs base | best val CER (epoch) "
        "| training time |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "| " + " | ".join(paper_cells) + " |",
        "",
        "\"As ASR\": both sides lower-cased, punctuation removed. \"CER vs base\": the change in test CER, in points.",
        "Each experiment is one training run with one seed, where the paper averages several runs.",
        "The paper reports only the CER of StackMix+blots for Saint Gall with its full recipe (ResNet34 stages",
        "pretrained on ImageNet, 128 x 2048 input); compare our +blots+StackMix row with it only when the budget",
        "above matches. Training time: the wall time of the train_accelerate.py process, per-epoch validation included"
        + (", while sharing the machine with another run." if a.jobs > 1 else "."),
        "",
        "## Training curves",
        "",
        f"![Validation CER per epoch]({plot_path.name})",
        "",
    ]

    masks_readme = ablation.char_masks / "README.md"
    bank_info = ablation.bank / "stackmix_bank.json"
    if masks_readme.is_file() and bank_info.is_file():
        masks = read_card_metadata(masks_readme).get("char_masks", {})
        bank = json.loads(bank_info.read_text())
        total = masks.get("lines", 0)

        def coverage(count: int) -> str:
            return f"{count} ({100 * count / total:.1f} %)" if total else str(count)

        lines += [
            "## StackMix inputs",
            "",
            f"- char masks: `{masks.get('method')}` alignment of base's `best_cer/` over {total} train lines: "
            f"{coverage(masks.get('with_boxes', 0))} with character boxes; the paper's greedy rule "
            f"(exactly recognised lines only) would keep {coverage(masks.get('greedy_exact', 0))}",
            f"- token bank: {bank['num_lines']} lines, {bank['num_slices']} slices of {bank['num_tokens']} distinct "
            f"tokens (1-{bank['max_token_length']} characters), {len(bank['characters'])} characters, "
            f"slice height {bank['height']} px",
            "",
        ]

    lines += [
        "## Commands",
        "",
        "Run from the repository root with "
        + " ".join(f"`{key}={value}`" for key, value in OFFLINE_ENV.items())
        + "; an interrupted training run continues with `--resume_from_checkpoint latest`. The whole ablation:",
        "",
        "```",
        shlex.join([sys.executable, "bench/ablation.py", *a.argv]),
        "```",
        "",
        "Its steps:",
        "",
        "```",
        *(f"# {step} ({format_duration(e['seconds'])})\n{e['command']}" for step, e in steps.items() if e["done"]),
        "```",
        "",
    ]
    write_file_atomic(path, "\n".join(lines).encode("utf-8"))


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.raw.is_dir() and not (args.work_dir / "saintgall").is_dir():
        raise SystemExit(f"--raw: {args.raw} is not a folder (and {args.work_dir / 'saintgall'} is not built)")
    if any(EXPERIMENTS[name][2] for name in args.experiments) and not args.corpus.is_file():
        raise SystemExit(f"--corpus: {args.corpus} is not a file (StackMix needs a corpus)")
    print(
        f"[ablation] {', '.join(args.experiments)}: preset {args.preset}, {args.epochs} epoch(s), "
        f"batch {args.batch_size}, seed {args.seed}, work dir {shown(args.work_dir)}",
        flush=True,
    )
    Ablation(args).run_all()


if __name__ == "__main__":
    main()
