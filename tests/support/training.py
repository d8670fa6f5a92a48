"""Helpers shared by the train_accelerate.py tests: running the script, tiny datasets."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
from PIL import Image

from support import REPO_ROOT

TRAIN_SCRIPT = REPO_ROOT / "train_accelerate.py"
TINY_RUN = ["--model_preset", "tiny", "--num_workers", "0", "--report_to", "jsonl", "--seed", "1"]


def tiny_run(dataset, output_dir, epochs: int, batch_size: int) -> list:
    """train_accelerate.py arguments of a tiny-preset run of `epochs` epochs on `dataset`."""
    return ["--dataset", dataset, "--output_dir", output_dir, *TINY_RUN, "--num_train_epochs", epochs,
            "--train_batch_size", batch_size]  # fmt: skip


def two_cpu_processes(port: int) -> list[str]:
    """`accelerate launch` of two gloo processes on the CPU; run it with ACCELERATE_USE_CPU=1 in the
    environment (`accelerate launch --cpu --num_processes 2` would start one process)."""
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or "accelerate"
    options = "--multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no"
    return [accelerate, "launch", *options.split(), "--main_process_port", str(port)]


def training_env() -> dict:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TQDM_DISABLE": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }


def run_training(*args, launcher=(sys.executable,), timeout=120) -> subprocess.CompletedProcess:
    """Run train_accelerate.py with `args` in a subprocess; stdout and stderr merged into `.stdout`."""
    return subprocess.run(
        [*launcher, str(TRAIN_SCRIPT), *map(str, args)],
        cwd=REPO_ROOT,
        env=training_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def run_training_with_hook(hook: str, *args, timeout=120) -> subprocess.CompletedProcess:
    """Run train_accelerate.py after executing `hook`, Python source that patches the project (for
    instance so that the run dies with `os._exit(137)`, like kill -9, at a named point)."""
    code = f"import os, runpy, sys\n{hook}\nsys.argv = sys.argv[1:]\nrunpy.run_path(sys.argv[0], run_name='__main__')\n"
    return run_training(*args, launcher=(sys.executable, "-c", code), timeout=timeout)


def line_image(width: int, height: int = 32, seed: int = 0) -> Image.Image:
    """A grayscale 'line': dark strokes at random columns on a light background."""
    rng = np.random.default_rng(seed)
    pixels = np.full((height, width), 230, dtype=np.uint8)
    for column in rng.integers(0, width, size=max(1, width // 6)):
        pixels[height // 4 : 3 * height // 4, column : column + 2] = 20
    return Image.fromarray(pixels, mode="L")


def make_tiny_dataset(folder: Path, splits: dict[str, list[tuple[str, str, int]]]) -> Path:
    """A `save_to_disk` DatasetDict; `splits` maps a split to (sample_id, text, image width) rows."""
    features = datasets.Features(
        {"sample_id": datasets.Value("string"), "image": datasets.Image(), "text": datasets.Value("string")}
    )
    built = datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(
                {
                    "sample_id": [sample_id for sample_id, _, _ in rows],
                    "image": [line_image(width, seed=i) for i, (_, _, width) in enumerate(rows)],
                    "text": [text for _, text, _ in rows],
                },
                features=features,
            )
            for split, rows in splits.items()
        }
    )
    built.save_to_disk(str(folder))
    return folder


def simple_splits() -> dict[str, list[tuple[str, str, int]]]:
    words = ["abc", "cab", "bca", "aab", "cba", "bac", "acb", "abcabc"]
    return {
        "train": [(f"tr-{i}", words[i % len(words)], 96 + 8 * (i % 5)) for i in range(12)],
        "validation": [(f"va-{i}", words[(i + 3) % len(words)], 100) for i in range(4)],
        "test": [(f"te-{i}", words[(i + 5) % len(words)], 100) for i in range(4)],
    }
