"""Corpus rules: rewrite printed text into a manuscript's spelling before StackMix writes it.

A corpus is usually an edition: its spelling is not the scribe's. A text-rules profile may name
rules that bring corpus text closer to its transcriptions; each rule measures how often the scribe
writes its form on the training transcriptions themselves, so the rewritten corpus matches them.

Saint Gall: the scribe writes "et" as the ligature "&" (the transcriptions decode the glyph "et"
to "&"), as a word of its own and inside words. Measured on the 466 training lines of the official
split: the word "et" is "&" 131 of 132 times, a word-initial "et" 9 of 9, a word-final one 69 of 70
(punctuation after it ignored), a word-internal one 47 of 60. `LigatureRule.fit` measures these four
rates on whatever training texts it gets, and `apply` writes each lower-case "et" of a corpus text
as "&" with the rate of its position.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

POSITIONS = ("word", "start", "end", "middle")
_WORD = re.compile(r"\S+")
_TRAILING_PUNCTUATION = ".,;:!?"


def _position(word: str, start: int, length: int) -> str:
    """Where the span [start, start + length) of `word` sits, punctuation at the word's end ignored."""
    core = len(word.rstrip(_TRAILING_PUNCTUATION)) or len(word)
    at_start, at_end = start == 0, start + length >= core
    if at_start and at_end:
        return "word"
    return "start" if at_start else "end" if at_end else "middle"


class LigatureRule:
    """Write `plain` as `glyph` as often as the training transcriptions do, by position in the word."""

    def __init__(self, plain: str, glyph: str):
        self.plain, self.glyph = plain, glyph
        self.counts: dict[str, Counter] = {position: Counter() for position in POSITIONS}

    def fit(self, texts: list[str]) -> "LigatureRule":
        """Count, per position, how often the transcriptions hold `glyph` and how often `plain`."""
        for text in texts:
            for match in _WORD.finditer(text):
                word = match[0]
                for form in (self.glyph, self.plain):
                    for found in re.finditer(re.escape(form), word):
                        self.counts[_position(word, found.start(), len(form))][form] += 1
        return self

    def rate(self, position: str) -> float:
        """Share of `glyph` among the occurrences at `position` (0 when none was seen)."""
        counts = self.counts[position]
        total = counts[self.glyph] + counts[self.plain]
        return counts[self.glyph] / total if total else 0.0

    def apply(self, text: str, rng: np.random.Generator) -> str:
        def rewrite_word(match: re.Match) -> str:
            word = match[0]
            return re.sub(
                re.escape(self.plain),
                lambda found: (
                    self.glyph
                    if rng.random() < self.rate(_position(word, found.start(), len(self.plain)))
                    else found[0]
                ),
                word,
            )

        return _WORD.sub(rewrite_word, text) if self.plain in text else text

    def describe(self) -> str:
        parts = [
            f"{position} {self.rate(position):.0%} "
            f"({self.counts[position][self.glyph]}/{self.counts[position][self.glyph] + self.counts[position][self.plain]})"
            for position in POSITIONS
        ]
        return f"{self.plain!r} written {self.glyph!r} as in the training transcriptions: " + ", ".join(parts)


# Text-rules profile -> the rules its corpus texts pass through.
CORPUS_RULES = {"saintgall": lambda: [LigatureRule("et", "&")]}


def fit_corpus_rules(text_rules: str, training_texts: list[str]) -> list[LigatureRule]:
    """The corpus rules of profile `text_rules`, measured on `training_texts` (none for most profiles)."""
    return [rule.fit(training_texts) for rule in CORPUS_RULES.get(text_rules, list)()]
