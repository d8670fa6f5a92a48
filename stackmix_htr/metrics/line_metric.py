"""The base of the local evaluate modules: a metric over pairs of text lines, optionally "as ASR"."""

import abc

import datasets
import evaluate

from stackmix_htr.metrics.normalization import normalize_as_asr

CITATION = """\
@article{shonenkov2021stackmix,
  title={StackMix and Blot Augmentations for Handwritten Text Recognition},
  author={Shonenkov, Alex and Karachev, Denis and Novopoltsev, Max and Potanin, Mark and Dimitrov, Denis},
  journal={arXiv preprint arXiv:2108.11667},
  year={2021}
}
"""

ARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): predicted transcriptions, one per line.
    references (`list` of `str`): reference transcriptions, one per line.
    as_asr (`bool`, defaults to `False`): score "as ASR", i.e. lower-case both sides,
        remove Unicode punctuation and collapse whitespace first.
"""


class LineMetric(evaluate.Metric, metaclass=abc.ABCMeta):
    """Subclasses set `DESCRIPTION` and `RETURNS_DESCRIPTION` and implement `_score`.

    Abstract, so that evaluate's loader, which takes the first non-abstract metric class in a
    script, picks the subclass and not this base imported beside it.
    """

    DESCRIPTION = ""
    RETURNS_DESCRIPTION = ""

    def _info(self):
        return evaluate.MetricInfo(
            description=self.DESCRIPTION,
            citation=CITATION,
            inputs_description=ARGS_DESCRIPTION + self.RETURNS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, as_asr=False):
        if as_asr:
            predictions = [normalize_as_asr(text) for text in predictions]
            references = [normalize_as_asr(text) for text in references]
        return self._score(predictions, references)

    @abc.abstractmethod
    def _score(self, predictions: list[str], references: list[str]) -> dict:
        """The metric on already normalised lines."""
