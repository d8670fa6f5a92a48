"""String accuracy: the fraction of lines transcribed exactly."""

import datasets
import evaluate

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
String accuracy: the fraction of lines whose prediction equals the reference exactly
(character for character, spaces included). Empty references are ordinary lines: an
empty prediction matches them. Computing over zero lines raises ValueError.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): predicted transcriptions, one per line.
    references (`list` of `str`): reference transcriptions, one per line.
    as_asr (`bool`, defaults to `False`): score "as ASR", i.e. lower-case both sides,
        remove Unicode punctuation and collapse whitespace first.
Returns:
    string_accuracy (`float`): the fraction of exactly correct lines, in [0, 1].
Examples:
    >>> accuracy = evaluate.load("metrics/string_accuracy")
    >>> accuracy.compute(predictions=["Hello.", "world"], references=["hello", "world"])
    {'string_accuracy': 0.5}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class StringAccuracy(evaluate.Metric):
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
        if not references:
            raise ValueError("no references to score")
        if as_asr:
            predictions = [normalize_as_asr(text) for text in predictions]
            references = [normalize_as_asr(text) for text in references]
        correct = sum(prediction == reference for prediction, reference in zip(predictions, references))
        return {"string_accuracy": correct / len(references)}
