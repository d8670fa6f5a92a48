"""Character error rate (CER) over a corpus of text lines."""

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
Character error rate: the Levenshtein distance between every reference line and its
prediction, summed over the corpus, divided by the total number of reference characters
(a corpus rate, not a mean of per-line rates). Strings are compared exactly as given,
spaces included. An empty reference adds its prediction's characters as insertions; if all
references are empty the rate is undefined and compute raises ValueError.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): predicted transcriptions, one per line.
    references (`list` of `str`): reference transcriptions, one per line.
    as_asr (`bool`, defaults to `False`): score "as ASR", i.e. lower-case both sides,
        remove Unicode punctuation and collapse whitespace first.
Returns:
    cer (`float`): the character error rate (0 is perfect; it can exceed 1).
Examples:
    >>> cer = evaluate.load("metrics/cer")
    >>> cer.compute(predictions=["hallo wrld"], references=["hello world"])
    {'cer': 0.18181818181818182}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CER(evaluate.Metric):
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
        return {"cer": count_edits(predictions, references, unit="char").rate}
