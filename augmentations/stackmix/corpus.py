"""Texts for StackMix: a corpus file filtered to the bank's characters, or splices of bank texts."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_builders.errors import InputError, MissingInputError

logger = logging.getLogger(__name__)

MAX_CORPUS_LENGTH = 110  # the paper keeps corpus lines of at most 110 characters


class CorpusError(InputError, ValueError):
    """A corpus that gives no text the bank can render."""


@dataclass
class Corpus:
    """Texts to render; `sample(rng)` draws one."""

    texts: list[str]
    source: str

    def sample(self, rng: np.random.Generator) -> str:
        return self.texts[rng.integers(len(self.texts))]


def load_corpus(
    path: str | os.PathLike,
    charset,
    max_length: int = MAX_CORPUS_LENGTH,
    text_rules: str = "none",
) -> Corpus:
    """One text per line, whitespace-normalised by `text_rules`, kept when every character is in
    `charset` and it has 1..`max_length` characters. Logs how many lines were kept."""
    from modeling_stackmix_htr.text_rules import get_text_rules  # here: the model package imports transformers

    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"corpus file {path} does not exist")
    rules, allowed = get_text_rules(text_rules), set(charset)
    texts, total = [], 0
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            total += 1
            text = rules.preprocess(line)
            if text and len(text) <= max_length and set(text) <= allowed:
                texts.append(text)
    logger.info("corpus %s: kept %d of %d lines (bank characters, at most %d chars)", path, len(texts), total, max_length)
    if not texts:
        raise CorpusError(
            f"no line of corpus {path} fits: none is 1..{max_length} characters of the bank's charset; "
            "give a corpus written with the bank's characters"
        )
    return Corpus(texts, str(path))


class SplicedTexts:
    """Fallback corpus without a corpus file: two random bank texts joined at word boundaries.

    The prefix of one text up to a random space and the suffix of another from a random space
    make a new line with realistic words and line lengths; lines without spaces join whole.
    Results are cut back to at most `max_length` characters at a word boundary.
    """

    def __init__(self, texts: list[str], max_length: int = MAX_CORPUS_LENGTH):
        self.texts = [text for text in texts if text]
        if not self.texts:
            raise ValueError("no bank text to splice")
        self.max_length = max_length
        self.source = "spliced bank texts"

    @staticmethod
    def _cut_points(text: str) -> list[int]:
        return [index for index, char in enumerate(text) if char == " "] or [len(text)]

    def sample(self, rng: np.random.Generator) -> str:
        first = self.texts[rng.integers(len(self.texts))]
        second = self.texts[rng.integers(len(self.texts))]
        head_cuts, tail_cuts = self._cut_points(first), self._cut_points(second)
        head = first[: head_cuts[rng.integers(len(head_cuts))]]
        tail = second[tail_cuts[rng.integers(len(tail_cuts))] :].strip() if " " in second else second
        text = f"{head} {tail}".strip()
        if len(text) > self.max_length:
            cut = text.rfind(" ", 0, self.max_length + 1)
            text = text[: cut if cut > 0 else self.max_length].strip()
        return text
