"""Word error rate (WER) over a corpus of text lines."""

import datasets
import evaluate

from metrics.edit_distance import count_edits
from metrics.normalization import normalize_as_asr

_CITATION = """\
@article{shonenkov2021stackmix,
  title={StackMix and Blot Augmentations for Handwritten Text Recognition},
  author={Shonenkov, Alex and Karachev, Denis and Novopoltsev, Max and Potanin, Mark and Dimitrov, Denis},
  journal={arXiv preprint arXiv:2108.11667},
  year={2021}
}
"""

_DESCRIPTION = """\
Word error rate: words are the non-empty runs between whitespace; the word-level
Levenshtein distance between every reference line and its prediction is summed over the
corpus and divided by the total number of reference words (a corpus rate, not a mean of
per-line rates). Words are compared exactly (case and punctuation count). An empty
reference adds its prediction's words as insertions; if all references are empty the rate
is undefined and compute raises ValueError.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): predicted transcriptions, one per line.
    references (`list` of `str`): reference transcriptions, one per line.
    as_asr (`bool`, defaults to `False`): score "as ASR", i.e. lower-case both sides,
        remove Unicode punctuation and collapse whitespace first.
Returns:
    wer (`float`): the word error rate (0 is perfect; it can exceed 1).
Examples:
    >>> wer = evaluate.load("metrics/wer")
    >>> wer.compute(predictions=["hallo world"], references=["hello world"])
    {'wer': 0.5}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class WER(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, as_asr=False):
        if as_asr:
            predictions = [normalize_as_asr(text) for text in predictions]
            references = [normalize_as_asr(text) for text in references]
        return {"wer": count_edits(predictions, references, unit="word").rate}
