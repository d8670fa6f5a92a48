"""Texts for StackMix: a corpus file in the manuscript's spelling, in-domain recombinations, or a mix.

* `load_corpus`: one text per line of a file, normalised by the text rules and written in the
  manuscript's spelling by the profile's spelling rules, at the rates of the training
  transcriptions (e.g. Saint Gall's "et" -> "&" where the scribe writes the ligature), kept when
  every character is in the bank and it has at most 110 characters. It reports the training
  characters that the kept texts never produce and refuses a corpus that produces fewer than
  `MIN_CHARACTER_COVERAGE` of them: such a corpus would teach the model that those characters do
  not exist.
* `RecombinedTexts`: new lines from the training transcriptions themselves, by a random walk over
  their word bigrams (each step continues with a word that followed the current one somewhere in
  the training lines), cut to the length of a random training line. The texts keep the
  manuscript's spelling, abbreviations and line lengths while mixing its words into new sequences.
* `MixedTexts`: a corpus text with probability `corpus_fraction`, else an in-domain one.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from stackmix_htr.common.errors import InputError, MissingInputError
from stackmix_htr.common.text_files import utf8_lines

logger = logging.getLogger(__name__)

MAX_CORPUS_LENGTH = 110  # the paper keeps corpus lines of at most 110 characters
MIN_CHARACTER_COVERAGE = 0.95  # share of the training characters a corpus must produce
# With a corpus, half of the lines keep the manuscript's own words and spelling (recombined).
DEFAULT_CORPUS_MIX = 0.5


class TextSource(Protocol):
    source: str

    def sample(self, rng: np.random.Generator) -> str: ...


class CorpusError(InputError, ValueError):
    """A corpus that gives no text the bank can render."""


class CorpusCoverageError(CorpusError):
    """A corpus whose texts leave out too many of the characters of the training transcriptions."""


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
    training_texts: list[str] | None = None,
    seed: int = 0,
) -> Corpus:
    """One text per line, normalised by `text_rules` and rewritten by its spelling rules (fitted on
    `training_texts`, drawn with `seed`), kept when every character is in `charset` and it has
    1..`max_length` characters.

    With `training_texts`, the characters they hold that no kept text produces are logged, and a
    corpus producing fewer than MIN_CHARACTER_COVERAGE of them raises CorpusCoverageError.
    """
    from modeling_stackmix_htr.text_rules import get_text_rules  # here: the model package imports transformers

    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"corpus file {path} does not exist")
    rules, allowed = get_text_rules(text_rules), set(charset)
    spellings = rules.spelling_rules(training_texts)
    for rule in spellings:
        logger.info("spelling rule of %r: %s", text_rules, rule.describe())
    rng = np.random.default_rng(seed)
    texts, total = [], 0
    for line in utf8_lines(path, "corpus"):
        total += 1
        text = rules.from_plain_text(rules.preprocess(line), spellings, rng)
        if text and len(text) <= max_length and set(text) <= allowed:
            texts.append(text)
    logger.info(
        "corpus %s: kept %d of %d lines (bank characters, at most %d chars)", path, len(texts), total, max_length
    )
    if not texts:
        raise CorpusError(
            f"no line of corpus {path} fits: none is 1..{max_length} characters of the bank's charset; "
            "give a corpus written with the bank's characters"
        )
    if training_texts:
        check_character_coverage(texts, training_texts, str(path))
    return Corpus(texts, str(path))


def check_character_coverage(texts: list[str], training_texts: list[str], source: str) -> list[str]:
    """The training characters that `texts` never produce (logged); raises CorpusCoverageError when
    they produce fewer than MIN_CHARACTER_COVERAGE of the training characters."""
    needed = set("".join(training_texts)) - {" "}
    missing = sorted(needed - set("".join(texts)))
    if not missing:
        return missing
    shown = " ".join(repr(char) for char in missing)
    coverage = 1 - len(missing) / len(needed)
    if coverage < MIN_CHARACTER_COVERAGE:
        raise CorpusCoverageError(
            f"corpus {source} produces {coverage:.1%} of the {len(needed)} characters of the training transcriptions "
            f"(at least {MIN_CHARACTER_COVERAGE:.0%} needed); never produced: {shown}. Use a corpus in the "
            "manuscript's spelling (or spelling rules for its text-rules profile), or leave the corpus out to "
            "write recombined training transcriptions."
        )
    logger.warning("corpus %s never produces %d training character(s): %s", source, len(missing), shown)
    return missing


class RecombinedTexts:
    """In-domain texts: random walks over the word bigrams of the training transcriptions.

    A walk starts at a random word of a random line and continues with a word that followed the
    current one in some training line (a random word anywhere when none did), until the next word
    would pass a target length drawn from the training lines' lengths (at most `max_length`).
    """

    def __init__(self, texts: list[str], max_length: int = MAX_CORPUS_LENGTH):
        lines = [text.split() for text in texts if text.strip()]
        if not lines:
            raise ValueError("no training text to recombine")
        self.words = [word for line in lines for word in line]
        self.followers: dict[str, list[str]] = defaultdict(list)
        for line in lines:
            for current, following in zip(line, line[1:]):
                self.followers[current].append(following)
        self.lengths = np.array([len(" ".join(line)) for line in lines])
        self.max_length = max_length
        self.source = "recombined training transcriptions"

    def _pick(self, choices: list[str], rng: np.random.Generator) -> str:
        return choices[rng.integers(len(choices))]

    def sample(self, rng: np.random.Generator) -> str:
        target = min(self.max_length, int(self.lengths[rng.integers(len(self.lengths))]))
        word = self._pick(self.words, rng)
        text = word[: self.max_length]
        while True:
            word = self._pick(self.followers.get(word) or self.words, rng)
            if len(text) + 1 + len(word) > target:
                return text
            text = f"{text} {word}"


@dataclass
class MixedTexts:
    """A `corpus` text with probability `corpus_fraction`, else an `in_domain` one."""

    corpus: TextSource
    in_domain: TextSource
    corpus_fraction: float

    @property
    def source(self) -> str:
        return (
            f"{self.corpus_fraction:.0%} {self.corpus.source}, {1 - self.corpus_fraction:.0%} {self.in_domain.source}"
        )

    def sample(self, rng: np.random.Generator) -> str:
        return (self.corpus if rng.random() < self.corpus_fraction else self.in_domain).sample(rng)


def build_text_source(
    training_texts: list[str],
    charset,
    corpus: str | os.PathLike | None = None,
    corpus_mix: float = DEFAULT_CORPUS_MIX,
    text_rules: str = "none",
    max_length: int = MAX_CORPUS_LENGTH,
) -> TextSource:
    """What StackMix writes: recombined `training_texts` without a corpus; with one, the corpus
    (in the profile's spelling) for a `corpus_mix` share of the lines and recombined texts for the rest."""
    if not 0.0 <= corpus_mix <= 1.0:
        raise ValueError(f"corpus_mix must lie in [0, 1], got {corpus_mix}")
    in_domain = RecombinedTexts(training_texts, max_length)
    if corpus is None or corpus_mix == 0.0:
        return in_domain
    loaded = load_corpus(corpus, charset, max_length, text_rules, training_texts)
    return loaded if corpus_mix == 1.0 else MixedTexts(loaded, in_domain, corpus_mix)
