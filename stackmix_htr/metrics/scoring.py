"""One scoring of transcribed lines for training and evaluation: the metric names, their values and
the predictions file.

Every result file of the project (metrics.jsonl, test_results.json, eval.py's results.json) names
the metrics by METRIC_KEYS: `cer`, `wer`, `string_accuracy`, and the same with `_asr` ("as ASR":
lower-cased, punctuation removed, whitespace collapsed on both sides).
"""

import csv
import io
from typing import Sequence

import evaluate

from stackmix_htr.metrics import METRIC_NAMES, line_cer, load_metric

METRIC_KEYS = METRIC_NAMES + tuple(f"{name}_asr" for name in METRIC_NAMES)
PREDICTION_COLUMNS = ("sample_id", "reference", "prediction", "cer")


def load_metric_suite() -> evaluate.CombinedEvaluations:
    """CER, WER and string accuracy combined, so one compute call gives all three; load it once per run."""
    return evaluate.combine([load_metric(name) for name in METRIC_NAMES])


def score(
    predictions: Sequence[str], references: Sequence[str], suite: evaluate.CombinedEvaluations
) -> dict[str, float]:
    """The metrics of METRIC_KEYS of `predictions` against `references` (corpus rates, fractions)."""
    results = {}
    for suffix, as_asr in (("", False), ("_asr", True)):
        values = suite.compute(predictions=predictions, references=references, as_asr=as_asr)
        results.update({f"{name}{suffix}": values[name] for name in METRIC_NAMES})
    return results


def prediction_rows(sample_ids, references, predictions) -> list[tuple[str, str, str, float]]:
    """(sample_id, reference, prediction, CER of the line) per line, in the given order."""
    return [
        (str(sample_id), reference, prediction, line_cer(prediction, reference))
        for sample_id, reference, prediction in zip(sample_ids, references, predictions)
    ]


def predictions_csv(rows: list[tuple[str, str, str, float]]) -> str:
    """The predictions file: a header of PREDICTION_COLUMNS and one row per line (`prediction_rows`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow(PREDICTION_COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue()
