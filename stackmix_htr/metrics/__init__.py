"""Local `evaluate` modules for handwritten text recognition: CER, WER and string accuracy.

Each metric lives in its own folder (`cer/cer.py`, `wer/wer.py`,
`string_accuracy/string_accuracy.py`) so that `evaluate.load(<folder>)` finds it without the
Hub. The scripts import their shared helpers from this package, so the package must be
installed (it is, with the project).

Example:
    >>> from stackmix_htr.metrics import load_metric
    >>> load_metric("cer").compute(predictions=["hallo"], references=["hello"])
    {'cer': 0.2}
"""

from pathlib import Path

import evaluate

from stackmix_htr.metrics.edit_distance import EditCounts, count_edits, line_cer
from stackmix_htr.metrics.normalization import normalize_as_asr

METRIC_NAMES = ("cer", "wer", "string_accuracy")
METRICS_DIR = Path(__file__).resolve().parent


def metric_path(name: str) -> Path:
    """The folder of the local evaluate module `name` (one of `METRIC_NAMES`)."""
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric {name!r}; available: {', '.join(METRIC_NAMES)}")
    return METRICS_DIR / name


def load_metric(name: str, **load_kwargs) -> evaluate.EvaluationModule:
    """`evaluate.load` of the local module `name`; works offline (nothing is fetched from the Hub)."""
    return evaluate.load(str(metric_path(name)), **load_kwargs)


__all__ = [
    "METRIC_NAMES",
    "EditCounts",
    "count_edits",
    "line_cer",
    "load_metric",
    "metric_path",
    "normalize_as_asr",
]
