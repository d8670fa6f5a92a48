"""Character error rate (CER) over a corpus of text lines."""

from stackmix_htr.metrics.edit_distance import count_edits
from stackmix_htr.metrics.line_metric import LineMetric


class CER(LineMetric):
    DESCRIPTION = """\
Character error rate: the Levenshtein distance between every reference line and its
prediction, summed over the corpus, divided by the total number of reference characters
(a corpus rate, not a mean of per-line rates). Strings are compared exactly as given,
spaces included. An empty reference adds its prediction's characters as insertions; if all
references are empty the rate is undefined and compute raises ValueError.
"""
    RETURNS_DESCRIPTION = """\
Returns:
    cer (`float`): the character error rate (0 is perfect; it can exceed 1).
Examples:
    >>> cer = evaluate.load("metrics/cer")
    >>> cer.compute(predictions=["hallo wrld"], references=["hello world"])
    {'cer': 0.18181818181818182}
"""

    def _score(self, predictions, references):
        return {"cer": count_edits(predictions, references, unit="char").rate}
