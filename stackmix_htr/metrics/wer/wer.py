"""Word error rate (WER) over a corpus of text lines."""

from stackmix_htr.metrics.edit_distance import count_edits
from stackmix_htr.metrics.line_metric import LineMetric


class WER(LineMetric):
    DESCRIPTION = """\
Word error rate: words are the non-empty runs between whitespace; the word-level
Levenshtein distance between every reference line and its prediction is summed over the
corpus and divided by the total number of reference words (a corpus rate, not a mean of
per-line rates). Words are compared exactly (case and punctuation count). An empty
reference adds its prediction's words as insertions; if all references are empty the rate
is undefined and compute raises ValueError.
"""
    RETURNS_DESCRIPTION = """\
Returns:
    wer (`float`): the word error rate (0 is perfect; it can exceed 1).
Examples:
    >>> wer = evaluate.load("metrics/wer")
    >>> wer.compute(predictions=["hallo world"], references=["hello world"])
    {'wer': 0.5}
"""

    def _score(self, predictions, references):
        return {"wer": count_edits(predictions, references, unit="word").rate}
