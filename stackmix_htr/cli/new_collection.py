"""stackmix-new-collection: a recognizer for a new collection, in the time you have.

    stackmix-new-collection --dataset data/mine --output_dir outputs/mine --minutes 60

Takes a built dataset (train / validation / test, e.g. from `python -m data_builders alto ...`) and a
wall-clock budget for the whole recipe, and does what measured best on hands the shipped model never
saw (docs/training.md, bench/RESULTS.md "A new collection on a budget"):

1. fine-tune the shipped general recognizer (`--init_from general`) on the collection, its output layer
   extended by the collection's characters (`--vocab_resize union`), gradients clipped, the schedule
   planned to the budget (`--max_train_minutes`);
2. with `--stackmix on` (or `auto` and a budget of at least STACKMIX_MIN_MINUTES): cut the new hand's
   characters with that model (CTC forced alignment), build a StackMix bank of them and go on training
   with StackMix lines of the collection's own texts for the rest of the training time;
3. build a word language model from the training transcriptions into the final model, tune its weights
   on the validation split and score the test split with it (`eval.py --tune_lm`).

Every step is a printed subprocess whose output folder is under --output_dir; running the same command
again resumes an interrupted step and skips finished ones. The model to use is OUTPUT_DIR/model.
"""

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from stackmix_htr.common.atomic import check_output_folder
from stackmix_htr.common.errors import InputError, run_command

STACKMIX_MIN_MINUTES = 120  # the bank's cut and build cost minutes a short budget needs for training
LM_SHARE = 0.08  # of the budget, for the language model's build, tuning and the test scoring
STACKMIX_SHARE = 0.55  # of the training time, trained with StackMix after the first model cut the characters


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stackmix-new-collection",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--dataset", required=True, help="the collection: a built dataset folder or Hub id")
    parser.add_argument("--output_dir", required=True, help="where the runs, the final model and its scores go")
    parser.add_argument("--minutes", type=float, required=True, help="wall-clock budget of the whole recipe")
    parser.add_argument(
        "--init_from", default="general", help="the recognizer to start from (short name, folder or Hub id)"
    )
    parser.add_argument(
        "--stackmix", choices=("auto", "on", "off"), default="auto", help="StackMix with the new hand's bank"
    )
    parser.add_argument("--language_model", choices=("on", "off"), default="on", help="a word LM from the train texts")
    parser.add_argument("--seed", type=int, default=6955)
    parser.add_argument("--train_args", default="", help='more train_accelerate.py flags, e.g. "--num_workers 2"')
    args = parser.parse_args(argv)
    if args.minutes < 2:
        parser.error("--minutes must be at least 2 (each training run needs a minute)")
    return args


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (elsewhere it is emulated and slower than float32)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class Recipe:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out = Path(args.output_dir)
        self.started = time.monotonic()

    def minutes_left(self) -> float:
        return self.args.minutes - (time.monotonic() - self.started) / 60

    def run(self, name: str, command: list, done: Path) -> None:
        """One step, skipped when `done` exists."""
        if done.exists():
            print(f"[new collection] {name}: done earlier", flush=True)
            return
        command = [str(part) for part in command]
        print(f"\n[new collection] {name} ({self.minutes_left():.1f} min left)\n$ {shlex.join(command)}", flush=True)
        completed = subprocess.run(command)
        if completed.returncode != 0:
            raise InputError(f"step {name!r} failed with exit code {completed.returncode}: {shlex.join(command)}")

    def train(self, name: str, minutes: float, start: str, *extra) -> Path:
        run_dir = self.out / name
        resume = ["--resume_from_checkpoint", "latest"] if (run_dir / "state").is_dir() else []
        precision = ["--mixed_precision", "bf16", "--channels_last"] if native_bfloat16() else []
        command = [
            sys.executable, "-m", "stackmix_htr.cli.train", "--dataset", self.args.dataset, "--output_dir", run_dir,
            "--init_from", start, "--vocab_resize", "union", "--max_train_minutes", f"{minutes:.2f}", "--use_augs",
            "--group_by_width", "--seed", self.args.seed, "--num_workers", 1, *precision, *extra, *resume,
            *shlex.split(self.args.train_args),
        ]  # fmt: skip
        self.run(f"train {name}", command, run_dir / "test_results.json")
        return run_dir / "best_cer"

    def stackmix_bank(self, model: Path) -> Path:
        masks, bank = self.out / "char_masks", self.out / "bank"
        stackmix = [sys.executable, "-m", "augmentations.stackmix"]
        self.run(
            "char masks",
            [*stackmix, "char-masks", "--model", model, "--dataset", self.args.dataset, "--output_dir", masks],
            masks / "README.md",
        )
        height = json.loads((model / "config.json").read_text())["image_height"]
        self.run(
            "bank",
            [
                *stackmix,
                "build-bank",
                "--char_masks",
                masks,
                "--dataset",
                self.args.dataset,
                "--output_dir",
                bank,
                "--image_height",
                height,
                "--seed",
                self.args.seed,
            ],  # fmt: skip
            bank / "README.md",
        )
        return bank

    def language_model(self, model: Path) -> None:
        self.run(
            "language model",
            [
                sys.executable,
                "-m",
                "stackmix_htr.cli.lm",
                "build",
                "--model",
                model,
                "--dataset",
                self.args.dataset,
                "--overwrite",
            ],  # fmt: skip
            model / "language_model" / "attrs.json",
        )
        self.run(
            "tune and score",
            [
                sys.executable,
                "-m",
                "stackmix_htr.cli.evaluate",
                "--model",
                model,
                "--dataset",
                self.args.dataset,
                "--split",
                "test",
                "--output_dir",
                self.out / "eval_lm",
                "--tune_lm",
                "--beam_width",
                8,
                "--alpha_grid",
                0.25,
                0.5,
                1.0,
                "--beta_grid",
                0.0,
                1.5,
                3.0,
                "--overwrite",
            ],  # fmt: skip
            self.out / "eval_lm" / "results.json",
        )

    def run_all(self) -> Path:
        a = self.args
        training = a.minutes * (1 - (LM_SHARE if a.language_model == "on" else 0.0))
        stackmix = a.stackmix == "on" or (a.stackmix == "auto" and a.minutes >= STACKMIX_MIN_MINUTES)
        first = training * (1 - STACKMIX_SHARE) if stackmix else training
        model = self.train("finetune", first, a.init_from)
        if stackmix:
            bank = self.stackmix_bank(model)
            model = self.train("stackmix", max(self.minutes_left() - a.minutes * LM_SHARE, 1.0), str(model),
                               "--stackmix_bank", bank)  # fmt: skip
        if a.language_model == "on":
            self.language_model(model)
        final = self.out / "model"
        if final.is_symlink() or final.exists():
            final.unlink()
        final.symlink_to(model.resolve(), target_is_directory=True)
        return final


def main(argv=None) -> None:
    args = parse_args(argv)
    check_output_folder(args.output_dir, "--output_dir")
    final = Recipe(args).run_all()
    print(f"\n[new collection] the model: {final} (-> {final.resolve()})")


def run(argv=None) -> int:
    """The console script: bad input is reported as one line on stderr with exit status 2."""
    return run_command(main, argv)


if __name__ == "__main__":
    sys.exit(run())
