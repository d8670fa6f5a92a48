"""Corpus-level edit counts (jiwer alignments) behind CER and WER.

Strings are compared exactly as given: no stripping, no case folding (that is what
`as_asr` is for). Words are the non-empty runs between whitespace characters.

An empty reference is allowed: every character (word) of its prediction counts as an
insertion, and it adds nothing to the reference length. A corpus whose references are all
empty has no error rate; `EditCounts.rate` raises then.
"""

import dataclasses
from typing import Literal, Sequence

import jiwer

Unit = Literal["char", "word"]

# Raw strings, one token per character (jiwer's default transform would strip the ends).
_CHARACTERS = jiwer.ReduceToListOfListOfChars()
# Any whitespace run delimits words; empty words are dropped by ReduceToListOfListOfWords.
_WORDS = jiwer.Compose([jiwer.SubstituteRegexes({r"\s+": " "}), jiwer.ReduceToListOfListOfWords(" ")])


@dataclasses.dataclass(frozen=True)
class EditCounts:
    """Summed Levenshtein operations over a corpus."""

    substitutions: int
    deletions: int
    insertions: int
    hits: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def reference_length(self) -> int:
        return self.hits + self.substitutions + self.deletions

    @property
    def rate(self) -> float:
        """errors / reference length (CER or WER); raises ValueError when the references are empty."""
        if self.reference_length == 0:
            raise ValueError(
                "the error rate is undefined: all references are empty "
                f"({self.errors} inserted tokens in the predictions)"
            )
        return self.errors / self.reference_length


def count_edits(predictions: Sequence[str], references: Sequence[str], unit: Unit) -> EditCounts:
    """Sum the edit operations turning each reference into its prediction.

    Args:
        predictions: one predicted string per line.
        references: the matching reference strings, same length.
        unit: "char" for CER, "word" for WER.
    """
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} references")
    if not references:
        raise ValueError("no references to score")
    if unit == "char":
        output = jiwer.process_characters(references, predictions, _CHARACTERS, _CHARACTERS)
    elif unit == "word":
        output = jiwer.process_words(references, predictions, _WORDS, _WORDS)
    else:
        raise ValueError(f"unit must be 'char' or 'word', got {unit!r}")
    return EditCounts(output.substitutions, output.deletions, output.insertions, output.hits)


def line_cer(prediction: str, reference: str) -> float:
    """CER of one line; for an empty reference 0.0 when the prediction is empty too, else inf."""
    counts = count_edits([prediction], [reference], "char")
    if counts.reference_length == 0:
        return 0.0 if counts.errors == 0 else float("inf")
    return counts.rate
