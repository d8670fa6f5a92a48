"""String accuracy: the fraction of lines transcribed exactly."""

from stackmix_htr.metrics.line_metric import LineMetric


class StringAccuracy(LineMetric):
    DESCRIPTION = """\
String accuracy: the fraction of lines whose prediction equals the reference exactly
(character for character, spaces included). Empty references are ordinary lines: an
empty prediction matches them. Computing over zero lines raises ValueError.
"""
    RETURNS_DESCRIPTION = """\
Returns:
    string_accuracy (`float`): the fraction of exactly correct lines, in [0, 1].
Examples:
    >>> accuracy = evaluate.load("metrics/string_accuracy")
    >>> accuracy.compute(predictions=["Hello.", "world"], references=["hello", "world"])
    {'string_accuracy': 0.5}
"""

    def _score(self, predictions, references):
        if not references:
            raise ValueError("no references to score")
        correct = sum(prediction == reference for prediction, reference in zip(predictions, references))
        return {"string_accuracy": correct / len(references)}
