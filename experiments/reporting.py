"""How experiments report: sections of bench/RESULTS.md, figures, and the rows of a run's metrics.jsonl.

bench/RESULTS.md is shared by the experiments and the benchmarks: each owns one section between markers
and rewrites only that section, so running one leaves the others' figures in place."""

from __future__ import annotations

import json
from pathlib import Path

from stackmix_htr.common.atomic import write_file_atomic

TITLE = (
    "# Benchmark results\n\nEach section below is written by the experiment or benchmark it names; rerun it to "
    "refresh the section.\n"
)


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- section {name}: start -->", f"<!-- section {name}: end -->"


def replace_section(path: Path, name: str, text: str) -> None:
    """Write `text` as section `name` of the Markdown file `path` (appended when the file lacks it)."""
    start, end = _markers(name)
    block = f"{start}\n{text.rstrip()}\n{end}"
    current = path.read_text(encoding="utf-8") if path.is_file() else TITLE
    if start in current and end in current:
        head, rest = current.split(start, 1)
        updated = head + block + rest.split(end, 1)[1]
    else:
        updated = current.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(path, updated.encode("utf-8"))


def metrics_rows(run_dir: Path) -> list[dict]:
    """The epoch rows of a run's metrics.jsonl in epoch order (none before it exists); a repeated epoch
    keeps its last row."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
                rows[int(row["epoch"])] = row
            except (ValueError, KeyError, TypeError) as error:
                raise SystemExit(f"{path}:{number}: not a metrics row with an epoch ({error})") from None
    return [rows[epoch] for epoch in sorted(rows)]


def validation_curve(run_dir: Path) -> list[list[float]]:
    """[epoch, validation CER] rows of a run (epochs without validation have no CER)."""
    return [[row["epoch"], float(row["cer"])] for row in metrics_rows(run_dir) if "cer" in row]


def save_figure(figure, path: Path) -> None:
    """A matplotlib figure as a PNG, written atomically, then closed."""
    import io

    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    write_file_atomic(path, buffer.getvalue())


def format_duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def mean_std(values: list[float]) -> str:
    """Percent mean, and +- the sample standard deviation when there are several values."""
    import numpy as np

    values = 100 * np.asarray(values, dtype=float)
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"


def cer_over_time_axes(ylim: float, xlabel: str = "training and validation minutes"):
    """(figure, axes) for validation CER (%) against minutes; draw, then `save_figure(figure, path)`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 4.4), dpi=110)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("validation CER (%)")
    axes.set_ylim(0, ylim)
    axes.grid(alpha=0.3)
    return figure, axes
