"""Inference speed in lines/s on Saint Gall test lines: eval.py, the pipeline at batch 1 and at
--batch_size, and transcribe.py (PyTorch and ONNX Runtime), for the small and paper presets, on a
fixed number of CPU threads.

    python bench/inference.py --dataset data/saintgall --small_model outputs/exp/base64/best_cer \
        --threads 2 --max_lines 200

Every variant reads the same PNG files (written once from the dataset's test split) and runs
end to end: image decoding, resizing, the forward passes, CTC decoding (transcribe.py also loads
the checkpoint, lists the folder and writes one text file per line; its ONNX Runtime column reads a
folder exported beforehand, outside the timing). Two rates are printed: lines
per second of wall time, and lines per second of this process's CPU time (all its threads), which
a machine shared with other jobs disturbs much less. A preset without a trained checkpoint (`--small_model`,
`--paper_model`) runs a randomly initialised model with the dataset's vocabulary: speed does not
depend on the weights. The first lines of each variant warm it up and are not timed. Every variant
runs with the memory allocator that eval.py and transcribe.py set up (stackmix_htr/common/allocator.py);
with GLIBC_TUNABLES set (to anything, e.g. its default `glibc.malloc.mmap_max=65536`) they all run with
glibc's defaults instead.

The speed goal is stated against kraken's `ketos test` at 6.9 lines/s on one thread, measured on French
lines where eval.py read 18.7 lines/s: the eval.py column ties these figures to that one.
"""

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import datasets
import torch
from transformers import pipeline

from modeling_stackmix_htr import StackMixHTRConfig, StackMixHTRForCTC, StackMixHTRProcessor
from stackmix_htr.cli import evaluate, transcribe
from stackmix_htr.common.allocator import keep_large_blocks_in_heap
from stackmix_htr.recognition.onnx_export import export_checkpoint

WARMUP_LINES = 8


def write_test_lines(dataset: str, folder: Path, max_lines: int | None) -> list[Path]:
    """The test split's line images as PNG files (as transcribe.py and kraken read them)."""
    test = datasets.load_dataset(dataset, split="test", cache_dir=str(folder / "hf-cache"))
    if max_lines:
        test = test.select(range(min(max_lines, len(test))))
    paths = []
    for index, row in enumerate(test):
        path = folder / "lines" / f"{index:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        row["image"].save(path)
        paths.append(path)
    return paths


def random_checkpoint(preset: str, dataset: str, folder: Path) -> Path:
    """A randomly initialised `preset` with the vocabulary of the dataset's training texts."""
    train = datasets.load_dataset(dataset, split="train", cache_dir=str(folder / "hf-cache"))
    config = StackMixHTRConfig.from_preset(preset)
    processor = StackMixHTRProcessor.from_texts(
        train["text"], image_height=config.image_height, max_width=config.max_width
    )
    config.vocab_size = processor.vocab_size
    checkpoint = folder / f"random-{preset}"
    StackMixHTRForCTC(config).save_pretrained(checkpoint)
    processor.save_pretrained(checkpoint)
    return checkpoint


@contextlib.contextmanager
def timed(lines: int, rates: list):
    """Appends (lines per wall second, lines per CPU second) of the block to `rates`."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    rates.append((lines / (time.perf_counter() - wall), lines / (time.process_time() - cpu)))


def time_pipeline(checkpoint: Path, paths: list[Path], batch_size: int, rates: list) -> None:
    recognizer = pipeline("handwriting-recognition", model=str(checkpoint), device="cpu")
    recognizer([str(path) for path in paths[:WARMUP_LINES]], batch_size=batch_size)
    with timed(len(paths), rates):
        results = recognizer([str(path) for path in paths], batch_size=batch_size)
    assert len(results) == len(paths)


def time_transcribe(
    checkpoint: Path, paths: list[Path], batch_size: int, backend: str, folder: Path, rates: list
) -> None:
    arguments = ["--model", str(checkpoint), "--device", "cpu", "--batch_size", str(batch_size), "--backend", backend]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        transcribe.main(
            [*arguments, "--input", *map(str, paths[:WARMUP_LINES]), "--output_dir", str(folder / "warmup")]
        )
        with timed(len(paths), rates):
            counts = transcribe.main(
                [*arguments, "--input", str(paths[0].parent), "--output_dir", str(folder / "transcribed")]
            )
    assert counts.lines == len(paths)


def time_eval(checkpoint: Path, dataset: str, lines: int, folder: Path, rates: list) -> None:
    """eval.py on the same test lines (read from the dataset), with the batch of 16 lines it ran with
    when the kraken figure below was set against it."""
    arguments = ["--model", str(checkpoint), "--dataset", dataset, "--split", "test", "--device", "cpu"]
    arguments += ["--batch_size", "16", "--output_dir", str(folder), "--overwrite"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        evaluate.main([*arguments, "--max_eval_samples", str(WARMUP_LINES)])
        with timed(lines, rates):
            evaluate.main([*arguments, "--max_eval_samples", str(lines)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="built Saint Gall dataset (folder or Hub id)")
    parser.add_argument("--small_model", help="a trained small-preset checkpoint (else random weights)")
    parser.add_argument("--paper_model", help="a trained paper-preset checkpoint (else random weights)")
    parser.add_argument("--presets", nargs="+", default=["small", "paper"], choices=["small", "paper", "tiny"])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--max_lines", type=int, default=None, help="time only the first N test lines")
    parser.add_argument(
        "--batch_size", type=int, default=4, help="batch of the batched pipeline and transcribe.py (their CPU default)"
    )
    args = parser.parse_args()
    allocator = keep_large_blocks_in_heap()  # as the commands do: the same for every variant
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        paths = write_test_lines(args.dataset, work, args.max_lines)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s), {len(paths)} Saint Gall test lines")
        print(f"memory allocator: {allocator}")
        columns = ("eval.py", "pipeline b=1", f"pipeline b={args.batch_size}", "transcribe.py", "transcribe.py onnx")
        print(f"{'preset':<8}{'weights':<9}" + "".join(f"{name:>28}" for name in columns))
        print(" " * 17 + "".join(f"{'lines/s (per CPU-s)':>28}" for _ in columns))
        for preset in args.presets:
            trained = {"small": args.small_model, "paper": args.paper_model}.get(preset)
            checkpoint = Path(trained) if trained else random_checkpoint(preset, args.dataset, work)
            rates = []
            time_eval(checkpoint, args.dataset, len(paths), work / preset / "eval", rates)
            time_pipeline(checkpoint, paths, 1, rates)
            time_pipeline(checkpoint, paths, args.batch_size, rates)
            time_transcribe(checkpoint, paths, args.batch_size, "pytorch", work / preset / "pytorch", rates)
            # Exported once, as a user reading many pages would, outside the timing.
            exported = export_checkpoint(str(checkpoint), str(work / preset / "onnx-model"))
            time_transcribe(exported, paths, args.batch_size, "onnx", work / preset / "onnx", rates)
            cells = "".join(f"{f'{wall:.1f} ({cpu:.1f})':>28}" for wall, cpu in rates)
            print(f"{preset:<8}{'trained' if trained else 'random':<9}{cells}", flush=True)


if __name__ == "__main__":
    main()
