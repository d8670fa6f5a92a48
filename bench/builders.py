"""Benchmark of the dataset builders on the real Saint Gall database.

Prints:
  * build speed (lines/s) and peak memory (process max RSS, and Python's tracemalloc peak) of
    `data_builders.build("saintgall", ...)`, each build in a fresh subprocess; the same for a
    marking.csv that lists every Saint Gall image four times, to show memory does not grow with size;
  * reading speed (lines/s) of images decoded to numpy through `datasets.load_dataset` (Arrow
    cache and streaming) against reading the PNG files with `cv2.imread`, as the reference code does.

    python bench/builders.py [--saint_gall ../shared/datasets/saintgalldb-v1.0] [--repeat 4]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from stackmix_htr.common.flags import with_current_spellings

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SAINT_GALL = REPO_ROOT.parent / "shared" / "datasets" / "saintgalldb-v1.0"


def _child_build(name: str, raw: str, out: str, trace: bool) -> None:
    """Runs in a subprocess: one build, result as JSON on stdout (tracing slows it, so timing runs skip it)."""
    from data_builders import build

    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    report = build(name, raw, out, skip_invalid=True, progress=False)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    print(json.dumps({"seconds": seconds, "lines": sum(report.counts.values()), "tracemalloc_peak": peak}))


def measure_build(name: str, raw: Path, out: Path, trace: bool) -> dict:
    """Build in a fresh interpreter; max RSS comes from the child's rusage."""
    command = [sys.executable, __file__, "--child_build", name, str(raw), str(out)]
    if not trace:
        command.append("--no_trace")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    _, status, usage = os.wait4(process.pid, 0)
    result = json.loads(process.stdout.read().strip().splitlines()[-1])
    process.stdout.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"build of {name} failed")
    result["max_rss_mb"] = usage.ru_maxrss / 1024
    return result


def write_repeated_marking(saint_gall: Path, folder: Path, repeat: int) -> int:
    """A marking.csv listing every Saint Gall image `repeat` times under distinct ids (no copies)."""
    from data_builders.records import Record
    from data_builders.saintgall import iter_records

    records = [item for item in iter_records(saint_gall) if isinstance(item, Record) and item.image.exists()]
    folder.mkdir(parents=True)
    with open(folder / "marking.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample_id", "path", "stage", "text"])
        for copy in range(repeat):
            for record in records:
                stage = {"validation": "valid"}.get(record.split, record.split)
                writer.writerow([f"{record.sample_id}-{copy}", str(record.image), stage, record.text])
    return repeat * len(records)


def measure_reading(built: Path, saint_gall: Path, cache: Path) -> dict:
    import cv2
    import datasets
    import numpy as np

    results = {}
    loaded = datasets.load_dataset(str(built), cache_dir=str(cache))
    start, count = time.perf_counter(), 0
    for split in loaded.values():
        for row in split:
            np.asarray(row["image"].convert("L"))
            count += 1
    results["load_dataset (Arrow cache) -> numpy"] = count / (time.perf_counter() - start)

    streamed = datasets.load_dataset(str(built), streaming=True)
    start, count = time.perf_counter(), 0
    for split in streamed.values():
        for row in split:
            np.asarray(row["image"].convert("L"))
            count += 1
    results["load_dataset(streaming=True) -> numpy"] = count / (time.perf_counter() - start)

    paths = sorted((saint_gall / "data" / "line_images_normalized").glob("*.png"))
    for label, flag in (
        ("cv2.imread color (reference code)", cv2.IMREAD_COLOR),
        ("cv2.imread grayscale", cv2.IMREAD_GRAYSCALE),
    ):
        start = time.perf_counter()
        for path in paths:
            cv2.imread(str(path), flag)
        results[label] = len(paths) / (time.perf_counter() - start)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saint_gall", type=Path, default=DEFAULT_SAINT_GALL, help="raw Saint Gall folder")
    parser.add_argument("--repeat", type=int, default=4, help="size multiple of the larger build")
    parser.add_argument("--child_build", nargs=3, metavar=("NAME", "RAW", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--no_trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(with_current_spellings(None))
    if args.child_build:
        _child_build(*args.child_build, trace=not args.no_trace)
        return
    if not args.saint_gall.is_dir():
        sys.exit(f"Saint Gall database not found at {args.saint_gall}; pass --saint_gall")

    with tempfile.TemporaryDirectory(prefix="bench-builders-") as tmp:
        tmp = Path(tmp)
        print(f"Saint Gall at {args.saint_gall}; {os.cpu_count()} CPU(s)")
        print("\nbuild (fresh subprocess each)                 lines   lines/s   max RSS MB   tracemalloc peak MB")
        repeated = write_repeated_marking(args.saint_gall, tmp / "repeated", args.repeat)
        builds = [
            ("saintgall", "saintgall", args.saint_gall),
            (f"marking_csv, Saint Gall x{args.repeat}", "marking_csv", tmp / "repeated"),
        ]
        for label, name, raw in builds:
            timed = measure_build(name, raw, tmp / f"{name}-timed", trace=False)
            traced = measure_build(name, raw, tmp / f"{name}-traced", trace=True)
            print(
                f"{label:<44} {timed['lines']:>6} {timed['lines'] / timed['seconds']:>9.0f} "
                f"{timed['max_rss_mb']:>12.0f} {traced['tracemalloc_peak'] / 2**20:>21.1f}"
            )
        assert repeated == timed["lines"]

        print("\nreading images to numpy                        lines/s")
        for label, rate in measure_reading(tmp / "saintgall-timed", args.saint_gall, tmp / "cache").items():
            print(f"{label:<44} {rate:>9.0f}")


if __name__ == "__main__":
    main()
