"""The paper's four experiments on one dataset: base, +blots, +StackMix and +blots+StackMix, over seeds and
train sizes, and base trained with the compute of the StackMix runs. `experiments/<dataset>/run.sh` runs it
with the dataset's settings (DATASETS below):

    experiments/saintgall/run.sh [--preset small] [--epochs 50] [--experiments ...] [--seeds 2] [--max_train_samples 100 all]
    python -m experiments.saintgall_ablation ...   # Saint Gall with the budget whose results bench/RESULTS.md reports
    python -m experiments.ablation iam --raw IAM --launcher "accelerate launch" --mixed_precision bf16

A run is one experiment trained on the first N train lines (`--max_train_samples`; `all` = the whole split)
with one seed (`--seeds K`: seeds --seed, --seed + 1, ..., --seed + K - 1). Every step is a subprocess
whose exact command is printed and listed in the report:

1. build the dataset from --raw with `python -m data_builders` (skipped when --data exists);
2. train `base` (and `blots`, `base_2x`) for every size and seed with train_accelerate.py;
3. per size and seed that has a StackMix run: char masks of the run's train lines from that base's
   `best_cer/` (forced CTC alignment by default), then the StackMix token bank;
4. train the StackMix runs; with --jobs N, up to N training runs go at once (the next starting as soon as
   one ends), each with its share of the CPU threads and its output in WORK/logs/;
5. score each run's `best_cer/` on the test split with eval.py;
6. write the ablation section of the results file (mean +- std per arm and size, relative change
   against base, validation curves, StackMix inputs, commands relative to the repository root).

All experiments use the plain augmentations (CLAHE, rotation, JPEG): in the paper "base" is the
recognizer trained with them; blots and StackMix are added on top. In StackMix's default `add` mode each
batch carries as many generated lines as real ones, so a StackMix run sees twice the lines of base in the
same optimizer steps; `base_2x` is base with twice the epochs (the same batches and schedule shape over
twice the steps), the line presentations and compute of a StackMix run. `--recipe paper` trains with
the paper's start (zero output bias) and no gradient clipping, `current` with train_accelerate.py's
defaults (the output layer from the class prior, gradients clipped to norm 1). `--train_args` passes further flags
to every training run, `--stackmix_args` to the StackMix runs and `--char_masks_args` to the char masks
(e.g. "--stackmix_mode add --stackmix_ratio 0.5", "--cuts midpoint"); without them the tools' defaults apply.

The record (`--record`; that of experiments/saintgall_ablation.py is bench/ablation_record.json, kept in the repository) holds the
budget, the commands, wall times and test results of finished steps, so the report can be written
from it alone and a later invocation (another session too) skips finished steps: a training run
interrupted midway resumes from its saved state, and a finished base run whose model is gone is
trained again only when a bank still needs it. Invocations with other sizes, seeds or experiments
but the same budget add their runs to the same record; a different budget needs another record.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import re
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from experiments.reporting import (
    format_duration,
    mean_std,
    metrics_rows,
    replace_section,
    save_figure,
    validation_curve,
)
from experiments.steps import (
    OFFLINE_ENV,
    REPO_ROOT,
    Record,
    describe_training_device,
    offline_env,
    run_steps,
    shown,
    shown_command,
    threads_per_job,
)


@dataclass(frozen=True)
class Experiment:
    label: str  # the report's row
    blots: bool
    stackmix: bool
    epochs_factor: int = 1  # training epochs, in --epochs


# name -> experiment, in the order they run
EXPERIMENTS = {
    "base": Experiment("base (augs)", False, False),
    "blots": Experiment("+blots", True, False),
    "stackmix": Experiment("+StackMix", False, True),
    "blots_stackmix": Experiment("+blots+StackMix", True, True),
    "base_2x": Experiment("base, twice the epochs (compute of StackMix)", False, False, epochs_factor=2),
}
REPORT_SECTION = "ablation"
ALIGNER = "aligner"  # the base recipe at --align_height, trained only to cut the StackMix slices
# Training flags of each recipe (see the module's docstring).
RECIPES = {"paper": ("--blank_bias", "0", "--max_grad_norm", "0"), "current": ()}
# Budget keys added since the first records, with the value every run had before they existed.
BUDGET_ADDITIONS = {"align_height": None, "train_args": "", "recipe": "paper", "max_train_minutes": None}
# Not compared with a record's budget: how fast a machine trains, not what it trains (each run's command
# shows its own; bfloat16 only pays on CPUs with native support).
PER_RUN_BUDGET_KEYS = ("mixed_precision",)


@dataclass(frozen=True)
class DatasetSettings:
    """What the runner needs to know of a dataset; paths are relative to the repository root."""

    label: str  # in the report
    raw: str  # the official download
    corpus: str  # text corpus of StackMix ("" for none: give --corpus)
    paper_cer: float | None  # % test CER of StackMix + blots in the paper (ResNet34-BiLSTM-CTC, arXiv 2108.11667)
    epochs: int = 150  # the paper's
    build_args: tuple[str, ...] = ()  # more `python -m data_builders` flags


# name -> settings; the name is also the data_builders source.
DATASETS = {
    "saintgall": DatasetSettings(
        "Saint Gall", "../shared/datasets/saintgalldb-v1.0", "../shared/corpora/latin_ecclesiastical.txt", 3.65,
        build_args=("--skip_invalid",),
    ),
    "iam": DatasetSettings("IAM", "IAM", "", 3.01),
    "bentham": DatasetSettings("Bentham", "BenthamDatasetR0-GT", "", 1.73, epochs=300),
    "peter": DatasetSettings("Digital Peter", "digital_peter", "", 2.50),
    "hkr": DatasetSettings("HKR", "HKR", "", 3.49),
}  # fmt: skip


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends the default to help texts that do not explain it themselves."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        if action.default in (None, argparse.SUPPRESS) or "default" in help_text:
            return help_text
        return f"{help_text} (default: %(default)s)"


def train_size(value: str) -> int | None:
    """`all` (the whole train split) or a positive number of lines."""
    if value == "all":
        return None
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a train size is 'all' or a positive number of lines, got {value!r}")
    return int(value)


def parse_args(argv=None, defaults: dict | None = None, program: str | None = None) -> argparse.Namespace:
    """The dataset's settings, then `defaults` (a caller's budget, e.g. the benchmark's), then `argv`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=program, description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("dataset", choices=list(DATASETS), help="the dataset, with its settings")
    name = next((arg for arg in argv if arg in DATASETS), "DATASET")  # its settings give the defaults below
    settings = DATASETS.get(name, DatasetSettings(name, "", "", None))
    parser.add_argument("--raw", default=settings.raw, help="the official download, built with python -m data_builders")
    parser.add_argument(
        "--data", default=None, help="the built dataset (default: WORK/DATASET, built from --raw when missing)"
    )
    parser.add_argument("--corpus", default=settings.corpus, help="corpus for StackMix")
    parser.add_argument("--work_dir", default=f"outputs/{name}", help="runs, char masks, banks, evaluations")
    parser.add_argument("--record", default=f"outputs/{name}/record.json", help="budget, commands, times and results")
    parser.add_argument(
        "--results", default=f"outputs/{name}/RESULTS.md", help="the Markdown report (the plot goes next to it)"
    )
    parser.add_argument("--preset", choices=["paper", "small", "tiny"], default="paper", help="model preset")
    parser.add_argument("--image_height", type=int, default=None, help="line height override (default: the preset's)")
    parser.add_argument("--epochs", type=int, default=settings.epochs, help="epochs per run")
    parser.add_argument(
        "--max_train_minutes",
        type=float,
        default=None,
        help="train every run to this wall-clock budget instead of --epochs (base_2x: twice the budget)",
    )
    parser.add_argument("--batch_size", type=int, default=16, help="training lines per batch and process")
    parser.add_argument("--seed", type=int, default=6955, help="first seed (of training and of the bank)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per experiment and size: --seed, --seed + 1, ...")
    parser.add_argument(
        "--max_train_samples",
        type=train_size,
        nargs="+",
        default=[None],
        help="train sizes: each 'all' or N (the first N train lines); every size runs every experiment and seed",
    )
    parser.add_argument(
        "--mixed_precision",
        choices=["no", "bf16", "fp16"],
        default=None,
        help="passed to training (default: accelerate config)",
    )
    parser.add_argument("--num_workers", type=int, default=4, help="DataLoader workers of training and evaluation")
    parser.add_argument(
        "--jobs", type=int, default=1, help="training runs at once; on a CPU each gets cores / jobs threads"
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter of the data, mask, bank, eval steps")
    parser.add_argument(
        "--launcher", default=None, help='runs train_accelerate.py, e.g. "accelerate launch" (default: --python)'
    )
    parser.add_argument("--device", default=None, help="device of char masks and evaluation (default: cuda if present)")
    parser.add_argument(
        "--experiments",
        nargs="+",
        choices=list(EXPERIMENTS),
        default=[name for name in EXPERIMENTS if name != "base_2x"],
        help="subset (base_2x: base with the compute of a StackMix run)",
    )
    parser.add_argument(
        "--recipe", choices=list(RECIPES), default="current", help="the paper's start and no clipping, or today's"
    )
    parser.add_argument("--train_args", default="", help="more train_accelerate.py flags for every training run")
    parser.add_argument("--stackmix_args", default="", help="more train_accelerate.py flags for the StackMix runs")
    parser.add_argument(
        "--char_masks_args", default="", help="more flags of the char masks (augmentations.stackmix char-masks)"
    )
    parser.add_argument(
        "--align_height",
        type=int,
        default=None,
        help="cut the StackMix slices with an aligner trained at this taller line height (an extra base run per "
        "size and seed) instead of the base model (default: the base model, at the training height)",
    )
    parser.add_argument("--max_eval_samples", type=int, default=None, help="first N validation/test lines (smoke runs)")
    parser.set_defaults(**(defaults or {}))
    args = parser.parse_args(argv)
    args.settings = settings
    args.program = parser.prog if program else f"python -m experiments.ablation {args.dataset}"
    # Defaults are relative to the repository root, user paths to the current directory.
    for option in ("raw", "work_dir", "record", "results"):
        value = Path(getattr(args, option))
        base = REPO_ROOT if getattr(args, option) == parser.get_default(option) else Path.cwd()
        setattr(args, option, (base / value).resolve())
    args.data = Path(args.data).resolve() if args.data else args.work_dir / args.dataset
    if args.corpus:
        base = REPO_ROOT if args.corpus == parser.get_default("corpus") else Path.cwd()
        args.corpus = (base / args.corpus).resolve()
    if args.jobs < 1 or args.seeds < 1:
        parser.error(f"--jobs and --seeds must be at least 1, got {args.jobs} and {args.seeds}")
    args.launcher = shlex.split(args.launcher) if args.launcher else [args.python]
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def size_tag(size: int | None) -> str:
    return "all" if size is None else f"n{size}"


@dataclass(frozen=True)
class Run:
    """One experiment with one train size and seed."""

    name: str
    size: int | None
    seed: int

    @property
    def key(self) -> str:
        return f"{self.name} {size_tag(self.size)} s{self.seed}"

    @property
    def group(self) -> tuple[int | None, int]:
        """Runs of one size and seed share a base model and a StackMix bank."""
        return self.size, self.seed

    @property
    def uses_blots(self) -> bool:
        return self.name in EXPERIMENTS and EXPERIMENTS[self.name].blots

    @property
    def uses_stackmix(self) -> bool:
        return self.name in EXPERIMENTS and EXPERIMENTS[self.name].stackmix


class Ablation:
    """Runs the steps and keeps their commands, wall times and results in the record."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = args.work_dir
        self.dataset = args.data
        self.budget = {
            "preset": args.preset,
            "image_height": args.image_height,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "mixed_precision": args.mixed_precision,
            "jobs": args.jobs,
            "max_eval_samples": args.max_eval_samples,
            "stackmix_args": args.stackmix_args,
            "char_masks_args": args.char_masks_args,
            "align_height": args.align_height,
            "train_args": args.train_args,
            "recipe": args.recipe,
            "max_train_minutes": args.max_train_minutes,
        }
        self.record = Record(
            args.record, self.budget, ("steps", "runs", "banks"), additions=BUDGET_ADDITIONS, ignore=PER_RUN_BUDGET_KEYS
        )
        seeds = [args.seed + offset for offset in range(args.seeds)]
        self.runs = [
            Run(name, size, seed)
            for size in args.max_train_samples
            for seed in seeds
            for name in EXPERIMENTS
            if name in args.experiments
        ]
        self.env = offline_env()

    def run_dir(self, run: Run) -> Path:
        return self.work / size_tag(run.size) / f"s{run.seed}" / run.name

    def group_dir(self, group: tuple[int | None, int]) -> Path:
        return self.work / size_tag(group[0]) / f"s{group[1]}"

    def step_done(self, step: str) -> bool:
        return self.record.step_done(step)

    def run(self, step: str, command: list) -> None:
        run_steps(self.record, [(step, command, ())], self.env, self.work / "logs")

    # --------------------------------------------------------------------------------- steps

    def build_dataset(self) -> None:
        if self.dataset.is_dir():
            print(f"[ablation] using the built dataset {shown(self.dataset)}", flush=True)
            return
        a = self.args
        command = [a.python, "-m", "data_builders", a.dataset, "--raw", shown(a.raw), "--output_dir", shown(self.dataset),
                   *a.settings.build_args, "--no_progress"]  # fmt: skip
        self.run("build", command)

    def training_step(self, run: Run) -> tuple[str, list, tuple[str, ...]]:
        a = self.args
        output_dir = self.run_dir(run)
        epochs, eval_every = self.epochs_for(run.size)
        factor = EXPERIMENTS[run.name].epochs_factor if run.name in EXPERIMENTS else 1
        length = ["--num_train_epochs", epochs * factor]
        if a.max_train_minutes:
            length, eval_every = ["--max_train_minutes", a.max_train_minutes * factor], 1
        command = [
            *a.launcher, "train_accelerate.py", "--dataset", shown(self.dataset), "--output_dir", shown(output_dir),
            "--model_preset", a.preset, *length, "--train_batch_size", a.batch_size,
            "--seed", run.seed, "--num_workers", a.num_workers, "--use_augs",
            "--test_split", "",  # the test split is scored by eval.py, with the as-ASR metrics too
            *shlex.split(a.train_args), *RECIPES[a.recipe],
        ]  # fmt: skip
        if eval_every > 1:
            command += ["--eval_every_epochs", eval_every]
        if run.uses_blots:
            command += ["--use_blots"]
        if run.uses_stackmix:
            command += ["--stackmix_bank", shown(self.group_dir(run.group) / "bank"), "--corpus", shown(a.corpus)]
            command += shlex.split(a.stackmix_args)
        if a.mixed_precision == "bf16":
            # channels-last kernels only with bf16: the fp32 convolution backward of torch 2.13's CPU
            # build aborts on channels-last tensors with few channels (the tiny preset).
            command += ["--channels_last"]
        height = a.align_height if run.name == ALIGNER else a.image_height
        for flag, value in (("image_height", height), ("mixed_precision", a.mixed_precision),
                            ("max_train_samples", run.size), ("max_eval_samples", a.max_eval_samples)):  # fmt: skip
            if value is not None:
                command += [f"--{flag}", value]
        interrupted = (output_dir / "state" / "training_progress.json").is_file()
        return f"train {run.key}", command, ("--resume_from_checkpoint", "latest") if interrupted else ()

    def epochs_for(self, size: int | None) -> tuple[int, int]:
        """(epochs, validate every k epochs) of a run on `size` train lines: every size gets the optimizer
        steps of --epochs epochs over the whole split, and about as many validations."""
        if size is None:
            return self.args.epochs, 1
        from data_builders.loading import load_dataset_folder_or_hub

        full = load_dataset_folder_or_hub(self.dataset, split="train").num_rows
        factor = max(1.0, full / size)
        return math.ceil(self.args.epochs * factor), math.ceil(factor)

    def train(self, runs: list[Run]) -> None:
        """Train the runs not finished yet, up to --jobs at once."""
        todo = [run for run in runs if not self.step_done(f"train {run.key}")]
        for run in runs:
            if run not in todo:
                print(f"[ablation] train {run.key}: finished earlier", flush=True)
        by_step = {f"train {run.key}": run for run in todo}

        def keep_curve_and_clock(step: str) -> None:
            run = by_step[step]
            entry = self.record.data["runs"].setdefault(run.key, {})
            entry["curve"] = validation_curve(self.run_dir(run))
            # the run's own clock sums every session it was resumed in; the step's wall time only the last
            entry["training_seconds"] = metrics_rows(self.run_dir(run))[-1]["elapsed_seconds"]
            self.record.save()

        steps = [self.training_step(run) for run in todo]
        run_steps(self.record, steps, self.env, self.work / "logs", jobs=self.args.jobs, on_done=keep_curve_and_clock)

    def aligner(self, group: tuple[int | None, int]) -> Run:
        """The run whose model cuts the group's slices: base, or the taller aligner with --align_height."""
        return Run(ALIGNER if self.args.align_height else "base", *group)

    def ensure_aligners(self, groups: list[tuple[int | None, int]]) -> None:
        """A bank still to build needs its aligner's model: train it (again, if an earlier session's is gone)."""
        missing = []
        for group in groups:
            aligner = self.aligner(group)
            if (
                not self.step_done(f"bank {size_tag(group[0])} s{group[1]}")
                and not (self.run_dir(aligner) / "best_cer").is_dir()
            ):
                self.record.data["steps"].pop(f"train {aligner.key}", None)
                missing.append(aligner)
        self.train(missing)

    def build_bank(self, group: tuple[int | None, int]) -> None:
        """Char masks of the group's train lines from its aligner's best_cer/, then the token bank."""
        a, tag = self.args, f"{size_tag(group[0])} s{group[1]}"
        folder, base = self.group_dir(group), self.run_dir(self.aligner(group)) / "best_cer"
        if not self.step_done(f"char masks {tag}"):
            command = [
                a.python, "-m", "augmentations.stackmix", "char-masks", "--model", shown(base), "--dataset", shown(self.dataset),
                "--output_dir", shown(folder / "char_masks"), "--device", a.device, "--overwrite",
                *shlex.split(a.char_masks_args),
            ]  # fmt: skip
            if group[0] is not None:  # the lines the base model trained on
                command += ["--max_lines", group[0]]
            self.run(f"char masks {tag}", command)
        if not self.step_done(f"bank {tag}"):
            height = model_config(a).image_height
            command = [
                a.python, "-m", "augmentations.stackmix", "build-bank", "--char_masks", shown(folder / "char_masks"),
                "--dataset", shown(self.dataset), "--output_dir", shown(folder / "bank"), "--image_height", height,
                "--seed", group[1], "--overwrite",
            ]  # fmt: skip
            self.run(f"bank {tag}", command)
            self.record.data["banks"][tag] = stackmix_inputs(folder)
            self.record.save()

    def evaluate(self, run: Run) -> None:
        step = f"eval {run.key}"
        if self.step_done(step):
            return
        a = self.args
        out = self.work / "evals" / run.key.replace(" ", "_")
        command = [
            a.python, "eval.py", "--model", shown(self.run_dir(run) / "best_cer"), "--dataset", shown(self.dataset),
            "--split", "test", "--output_dir", shown(out), "--device", a.device,
            "--num_workers", a.num_workers, "--overwrite",
        ]  # fmt: skip
        if a.max_eval_samples is not None:
            command += ["--max_eval_samples", a.max_eval_samples]
        self.run(step, command)
        results = json.loads((out / "results.json").read_text())
        entry = self.record.data["runs"].setdefault(run.key, {})
        entry.update(test=next(iter(results["checkpoints"].values())), test_lines=results["num_lines"])
        entry["unfit_lines"] = count_unfit_lines(self.run_dir(run))
        self.record.save()

    def run_all(self) -> None:
        started = time.perf_counter()
        self.build_dataset()
        plain = [run for run in self.runs if not run.uses_stackmix]
        stackmix = [run for run in self.runs if run.uses_stackmix]
        self.train(plain)
        for run in plain:
            self.evaluate(run)
        groups = sorted({run.group for run in stackmix}, key=lambda group: (group[0] or 0, group[1]))
        self.ensure_aligners(groups)
        for group in groups:
            self.build_bank(group)
        self.train(stackmix)
        for run in stackmix:
            self.evaluate(run)
        write_report(self)
        print(f"\n[ablation] wrote {self.args.results} in {time.perf_counter() - started:.1f} s", flush=True)


# ------------------------------------------------------------------------------------ report


def model_config(args: argparse.Namespace):
    """The model configuration every run trains: the preset with the --image_height override."""
    from modeling_stackmix_htr import StackMixHTRConfig

    overrides = {"image_height": args.image_height} if args.image_height else {}
    return StackMixHTRConfig.from_preset(args.preset, **overrides)


def count_unfit_lines(run_dir: Path) -> int:
    """Lines a run found too long for its output frames; training writes the list only when there are some."""
    path = run_dir / "unfit_lines.json"
    return len(json.loads(path.read_text())) if path.is_file() else 0


def read_card_metadata(readme: Path) -> dict:
    """The YAML front matter of a dataset card."""
    import yaml

    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return {}
    return yaml.safe_load(text.split("---", 2)[1]) or {}


def stackmix_inputs(group_dir: Path) -> dict:
    """Facts of a group's char masks and bank, for the report."""
    masks = read_card_metadata(group_dir / "char_masks" / "README.md").get("char_masks", {})
    bank = json.loads((group_dir / "bank" / "stackmix_bank.json").read_text())
    keys = ("num_lines", "num_slices", "num_tokens", "max_token_length", "characters", "height")
    return {"char_masks": masks, "bank": {key: bank[key] for key in keys}}


def plot_curves(runs: dict[str, dict], sizes: list[str], label: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes_list = plt.subplots(1, len(sizes), figsize=(6.5 * len(sizes), 4.2), dpi=110, squeeze=False)
    colours = dict(zip(EXPERIMENTS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for axes, size in zip(axes_list[0], sizes):
        labelled = set()
        for key, entry in runs.items():
            name, tag, seed = key.split()
            if tag != size or name not in EXPERIMENTS or not entry.get("curve"):
                continue
            epochs, cers = zip(*entry["curve"])
            legend = None if name in labelled else EXPERIMENTS[name].label  # one legend entry per arm
            labelled.add(name)
            axes.plot([e + 1 for e in epochs], [100 * cer for cer in cers], color=colours[name], alpha=0.85,
                      linewidth=1.2, label=legend)  # fmt: skip
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylim(0, 100)
        axes.set_xlabel("epoch")
        axes.set_ylabel("validation CER (%)")
        axes.set_title(f"{label}, {size_label(size)} (one line per seed)")
        axes.grid(alpha=0.3)
        axes.legend()
    save_figure(figure, path)


def size_label(tag: str) -> str:
    return "all train lines" if tag == "all" else f"first {tag[1:]} train lines"


def results_table(ablation: Ablation, tag: str) -> list[str]:
    """Rows of one train size: each arm's test metrics over its seeds, and its change against base."""
    import numpy as np

    runs, steps = ablation.record.data["runs"], ablation.record.data["steps"]
    by_arm: dict[str, list[tuple[str, dict]]] = {}
    for key, entry in runs.items():
        name, run_tag, seed = key.split()
        if run_tag == tag and "test" in entry:
            by_arm.setdefault(name, []).append((key, entry))
    base_cer = np.mean([entry["test"]["cer"] for _, entry in by_arm.get("base", [])]) if "base" in by_arm else None
    precisions = {
        key: training_precision(steps.get(f"train {key}", {}).get("command", ""))
        for entries in by_arm.values()
        for key, _ in entries
    }
    mixed_arithmetic = len(set(precisions.values())) > 1
    rows = []
    for name in (name for name in EXPERIMENTS if name in by_arm):
        entries = sorted(by_arm[name], key=lambda item: int(item[0].split()[2][1:]))  # runs end in any order
        tests = [entry["test"] for _, entry in entries]
        cers = [test["cer"] for test in tests]
        change = "–"
        if name != "base" and base_cer:
            change = f"{100 * (np.mean(cers) - base_cer):+.2f} ({100 * (np.mean(cers) / base_cer - 1):+.1f} %)"
        best = [min(entry["curve"], key=lambda row: row[1]) for _, entry in entries if entry.get("curve")]
        best_cell = ", ".join(f"{100 * cer:.2f} ({int(epoch) + 1})" for epoch, cer in best) or "–"
        seconds = [
            entry.get("training_seconds") or steps[f"train {key}"]["seconds"]
            for key, entry in entries
            if "training_seconds" in entry or f"train {key}" in steps
        ]
        seeds = ", ".join(key.split()[2][1:] for key, _ in entries)
        time_cell = format_duration(float(np.mean(seconds))) if seconds else "–"
        if mixed_arithmetic:
            time_cell += f" ({', '.join(sorted({precisions[key] for key, _ in entries}))})"
        cells = [
            EXPERIMENTS[name].label, seeds, mean_std(cers), mean_std([test["wer"] for test in tests]),
            mean_std([test["cer_asr"] for test in tests]), change, best_cell, time_cell,
        ]  # fmt: skip
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def training_precision(command: str) -> str:
    """The arithmetic a recorded training command ran in: a run's time depends on it as much as on the arm."""
    match = re.search(r"--mixed_precision (\S+)", command)
    if not match:
        return "accelerate default"
    return "float32" if match[1] == "no" else match[1]


def equal_compute_lines(ablation: Ablation, tag: str) -> list[str]:
    """StackMix against base with the same compute (base_2x) at one train size, over the seeds both have."""
    import numpy as np

    runs = ablation.record.data["runs"]
    seeds = sorted(
        key.split()[2]
        for key, entry in runs.items()
        if key.startswith("base_2x ") and key.split()[1] == tag and "test" in entry
    )
    lines = []
    for arm in ("stackmix", "blots_stackmix"):
        pairs = [(runs.get(f"{arm} {tag} {seed}", {}), runs[f"base_2x {tag} {seed}"]) for seed in seeds]
        pairs = [(ours["test"]["cer"], theirs["test"]["cer"]) for ours, theirs in pairs if "test" in ours]
        if not pairs:
            continue
        ours, theirs = (np.mean(values) for values in zip(*pairs))
        per_seed = ", ".join(f"{100 * (a / b - 1):+.1f} %" for a, b in pairs)
        verdict = "below" if ours < theirs else "not below"
        lines.append(
            f"At equal compute ({len(pairs)} seed(s) with both): {EXPERIMENTS[arm].label} {100 * ours:.2f} % against "
            f"{100 * theirs:.2f} % for {EXPERIMENTS['base_2x'].label}: {100 * (ours / theirs - 1):+.1f} % relative "
            f"({verdict}; per seed {per_seed})."
        )
    return lines + ([""] if lines else [])


def write_report(ablation: Ablation) -> None:
    a, record = ablation.args, ablation.record.data
    plot_path = a.results.with_name("ablation_curves.png")
    tags = sorted({key.split()[1] for key, entry in record["runs"].items() if "test" in entry},
                  key=lambda tag: (tag == "all", int(tag[1:]) if tag != "all" else 0))  # fmt: skip
    label = a.settings.label
    plot_curves(record["runs"], tags, label, plot_path)
    config = model_config(a)
    test_lines = {entry.get("test_lines") for entry in record["runs"].values() if "test" in entry}
    unfit = max((entry.get("unfit_lines", 0) for entry in record["runs"].values()), default=0)
    arithmetic = {
        training_precision(entry["command"])
        for step, entry in record["steps"].items()
        if step.startswith("train ") and entry["done"]  # the runs whose commands the report lists
    }

    lines = [
        f"## Ablation on {label}: handwritten blots and StackMix",
        "",
        f"Written by `{a.program}` on {datetime.date.today().isoformat()} from `{shown(a.record)}`. Rates in",
        "percent; test figures are those of each run's best validation-CER checkpoint (`best_cer/`), scored by `eval.py`.",
        "",
        "### Budget",
        "",
        f"- device: {describe_training_device()}; training launcher `{shown_command(a.launcher)}`, arithmetic: "
        f"{', '.join(sorted(arithmetic)) or '–'} (each run's command below shows its own); char masks and evaluation on "
        f"`{a.device}`",
        *(
            [f"- {a.jobs} training runs at a time, each with `OMP_NUM_THREADS={threads_per_job(a.jobs)}`"]
            if a.jobs > 1
            else []
        ),
        f"- model preset `{a.preset}` ({config.image_height} x {config.max_width} px input), batch size {a.batch_size}, "
        f"the optimizer steps of {a.epochs} epoch(s) over all train lines for every train size (a run on fewer lines "
        "trains proportionally more epochs and validates every k epochs to match; base, twice the epochs: twice "
        "that); optimizer and schedule: the paper's AdamW + OneCycleLR; "
        + (
            "the paper's start (zero output bias) and no gradient clipping (`--recipe paper`)"
            if a.recipe == "paper"
            else "train_accelerate.py's start (output bias from the class prior) and clipping to norm 1"
        ),
        f"- data: {label}, the builder's splits (`python -m data_builders {a.dataset}`); train sizes: the first N train lines of the split; all validation "
        f"lines; {', '.join(str(n) for n in sorted(test_lines - {None})) or '–'} test lines",
        "- vocabulary: train_accelerate.py's default, the characters of the train and validation transcriptions",
        f"- train and validation lines needing more CTC frames than the model outputs: at most {unfit} per run "
        f"(one frame per {config.width_stride} px)",
        "- every experiment trains with the plain augmentations (`--use_augs`: CLAHE, rotation, JPEG), as the paper's "
        "base model does; blots and StackMix are added on top",
        f"- StackMix: train_accelerate.py's defaults{' with `' + a.stackmix_args + '`' if a.stackmix_args else ''}, "
        f"the corpus `{shown(a.corpus) if a.corpus else '-'}`; char masks: the char-masks command's defaults"
        f"{' with `' + a.char_masks_args + '`' if a.char_masks_args else ''}, from the "
        + (f"aligner (the base recipe at {a.align_height} px)" if a.align_height else "base run")
        + " of the same size and seed",
        "",
        "### Test results",
        "",
    ]
    for tag in tags:
        lines += [
            f"#### {size_label(tag).capitalize()}",
            "",
            "| experiment | seeds | CER | WER | CER as ASR | CER vs base (relative) | best val CER (epoch), per seed "
            "| training time (mean) |",
            "|---|---|---|---|---|---|---|---|",
            *results_table(ablation, tag),
            "",
            *equal_compute_lines(ablation, tag),
        ]
    if a.settings.paper_cer is not None:
        lines += [
            f"Paper, StackMix+blots (ResNet34-BiLSTM-CTC, 128 x 2048, ImageNet-initialised, 100-300 epochs): "
            f"{a.settings.paper_cer:.2f} % test CER.",
            "",
        ]
    lines += [
        'Mean ± sample standard deviation over the seeds listed. "As ASR": both sides lower-cased, punctuation removed.',
        '"CER vs base": the change of the mean test CER in points, and relative to base\'s mean. Training time: the',
        "training and per-epoch validation time the run's own clock kept, summed over the sessions it was resumed "
        "in (runs recorded before it kept one: the wall time of the train_accelerate.py process)"
        + (", while sharing the machine with another run." if a.jobs > 1 else ".")
        + " Where a table's runs trained in different arithmetic, each time names its own (the commands below say "
        "which): such times compare arms only with care.",
        "",
        "#### Training curves",
        "",
        f"![Validation CER per epoch]({plot_path.name})",
        "",
    ]
    if record["banks"]:
        lines += ["#### StackMix inputs", ""]
        for tag, facts in sorted(record["banks"].items()):
            masks, bank = facts["char_masks"], facts["bank"]
            total = masks.get("lines", 0) or 1
            lines.append(
                f"- {tag}: `{masks.get('method')}` alignment with `{masks.get('cuts', 'midpoint')}` cuts: "
                f"{masks.get('with_boxes', 0)} of {masks.get('lines', 0)} train lines with boxes (the paper's greedy "
                f"rule would keep {masks.get('greedy_exact', 0)}, {100 * masks.get('greedy_exact', 0) / total:.0f} %); "
                f"bank: {bank['num_slices']} slices of {bank['num_tokens']} tokens, {len(bank['characters'])} characters, "
                f"{bank['height']} px"
            )
        lines.append("")
    lines += [
        "#### Commands",
        "",
        "Run from the repository root with "
        + " ".join(f"`{key}={value}`" for key, value in OFFLINE_ENV.items())
        + "; a finished step is skipped and an interrupted training run resumes when the same command runs again.",
        "",
        "```",
        *(
            f"# {step} ({format_duration(e['seconds'])})\n{e['command']}"
            for step, e in record["steps"].items()
            if e["done"]
        ),
        "```",
        "",
    ]
    replace_section(a.results, REPORT_SECTION, "\n".join(lines))


def main(argv=None, defaults: dict | None = None, program: str | None = None) -> None:
    args = parse_args(argv, defaults, program)
    if not args.raw.is_dir() and not args.data.is_dir():
        raise SystemExit(f"--raw: {args.raw} is not a folder (and the dataset {args.data} is not built)")
    if any(EXPERIMENTS[name].stackmix for name in args.experiments):
        if not args.corpus:
            raise SystemExit("StackMix needs a corpus: give --corpus (a text file, one text per line)")
        if not args.corpus.is_file():
            raise SystemExit(f"--corpus: {args.corpus} is not a file (StackMix needs a corpus)")
    print(
        f"[ablation] {', '.join(args.experiments)}: preset {args.preset}, {args.epochs} epoch(s), batch "
        f"{args.batch_size}, {args.seeds} seed(s) from {args.seed}, train sizes "
        f"{', '.join(size_tag(size) for size in args.max_train_samples)}, work dir {shown(args.work_dir)}",
        flush=True,
    )
    Ablation(args).run_all()


if __name__ == "__main__":
    main()
