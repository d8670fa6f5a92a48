"""Word n-gram language model with interpolated modified Kneser-Ney smoothing, written as ARPA.

What KenLM's `lmplz` estimates, for machines without it (the `kenlm` Python module loads ARPA
files but cannot estimate them):

- Each sentence is padded as `<s> w1 ... wk </s>`. The highest order keeps raw counts; a lower
  order n-gram gets its continuation count (how many distinct words precede it), except n-grams
  that start with `<s>`, which nothing can precede and which keep raw counts.
- Per order, three discounts come from the counts of counts t1..t4 (Chen and Goodman):
  Y = t1 / (t1 + 2 t2), D1 = 1 - 2 Y t2 / t1, D2 = 2 - 3 Y t3 / t2, D3+ = 3 - 4 Y t4 / t3.
  Where they are undefined or out of range (tiny corpora), the fallback (0.5, 1.0, 1.5) applies,
  as `lmplz --discount_fallback` does.
- p(w | h) = (a(hw) - D(a(hw))) / a(h.) + gamma(h) p(w | h'), with gamma(h) the discounted mass
  (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / a(h.), which is also h's ARPA back-off weight. Unigrams
  interpolate with the uniform distribution over the vocabulary plus `<unk>`; `<s>` is never
  predicted (log10 probability -99).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import TextIO

SENTENCE_START = "<s>"
SENTENCE_END = "</s>"
UNKNOWN_WORD = "<unk>"
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
NEVER = -99.0  # ARPA's log10 probability for a token that is never predicted (<s>)


def discounts_from_counts_of_counts(counts_of_counts: Counter) -> tuple[float, float, float]:
    """(D1, D2, D3+) from t_k = number of n-grams seen exactly k times; the fallback where undefined."""
    t1, t2, t3, t4 = (counts_of_counts.get(k, 0) for k in (1, 2, 3, 4))
    if min(t1, t2, t3, t4) == 0:
        return FALLBACK_DISCOUNTS
    y = t1 / (t1 + 2 * t2)
    discounts = (1 - 2 * y * t2 / t1, 2 - 3 * y * t3 / t2, 3 - 4 * y * t4 / t3)
    if not all(0 < discount <= k for k, discount in enumerate(discounts, start=1)):
        return FALLBACK_DISCOUNTS
    return discounts


class KneserNeyModel:
    """Counts n-grams of word sentences, then yields ARPA entries with modified Kneser-Ney estimates.

    Words are integer ids internally (`vocabulary[i]` is word i) to keep memory down on large corpora.
    After `estimate`, `discounts[n - 1]` holds the (D1, D2, D3+) order n used.
    """

    def __init__(self, order: int):
        if order < 1:
            raise ValueError(f"the n-gram order must be at least 1, got {order}")
        self.order = order
        self.vocabulary = [SENTENCE_START, SENTENCE_END]
        self._ids = {SENTENCE_START: 0, SENTENCE_END: 1}
        self._top_counts: Counter = Counter()  # raw counts of the highest order
        self._start_counts: list[Counter] = [Counter() for _ in range(order)]  # raw counts of <s>-initial n-grams
        self.num_sentences = 0
        self.discounts: list[tuple[float, float, float]] = []

    def add_sentence(self, words: Iterable[str]) -> None:
        ids = [0] + [self._word_id(word) for word in words] + [1]
        self.num_sentences += 1
        for length in range(1, min(self.order, len(ids)) + 1):
            self._start_counts[length - 1][tuple(ids[:length])] += 1
        for start in range(1, len(ids) - self.order + 1):
            self._top_counts[tuple(ids[start : start + self.order])] += 1

    def _word_id(self, word: str) -> int:
        word_id = self._ids.get(word)
        if word_id is None:
            if not word or any(char.isspace() for char in word) or word in (SENTENCE_START, SENTENCE_END, UNKNOWN_WORD):
                raise ValueError(f"not a word the language model can hold: {word!r}")
            word_id = self._ids[word] = len(self.vocabulary)
            self.vocabulary.append(word)
        return word_id

    @property
    def words(self) -> list[str]:
        """The corpus vocabulary without the sentence markers."""
        return self.vocabulary[2:]

    def _adjusted_counts(self) -> list[dict[tuple, int]]:
        """Per order (index n-1): raw counts at the top order and for <s>-initial n-grams, continuation counts otherwise."""
        adjusted: list[dict[tuple, int]] = [dict() for _ in range(self.order)]
        adjusted[-1] = dict(self._top_counts)
        for length in range(self.order, 0, -1):
            counts = adjusted[length - 1]
            for ngram, count in self._start_counts[length - 1].items():
                counts[ngram] = count if length < self.order else counts.get(ngram, 0) + count
            if length > 1:
                lower = adjusted[length - 2]
                for ngram in counts:  # each distinct left neighbour counts once
                    lower[ngram[1:]] = lower.get(ngram[1:], 0) + 1
        del adjusted[0][(0,)]  # <s> is never predicted
        return adjusted

    def estimate(self) -> list[dict[tuple, tuple[float, float | None]]]:
        """Per order: n-gram -> (log10 probability, log10 back-off weight or None)."""
        if not self.num_sentences:
            raise ValueError("no sentence to estimate a language model from")
        adjusted = self._adjusted_counts()
        probabilities: list[dict[tuple, float]] = []
        gammas: list[dict[tuple, float]] = []
        self.discounts = []
        for counts in adjusted:
            discounts = discounts_from_counts_of_counts(Counter(counts.values()))
            self.discounts.append(discounts)
            stats: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # context -> [sum, N1, N2, N3+]
            for ngram, count in counts.items():
                entry = stats[ngram[:-1]]
                entry[0] += count
                entry[min(count, 3)] += 1
            gamma = {
                context: (discounts[0] * n1 + discounts[1] * n2 + discounts[2] * n3) / total
                for context, (total, n1, n2, n3) in stats.items()
            }
            lower = probabilities[-1] if probabilities else None
            uniform = 1.0 / len(self.vocabulary)  # the words, </s> and <unk>, but not <s>
            level = {}
            for ngram, count in counts.items():
                context = ngram[:-1]
                backed_off = uniform if lower is None else lower[ngram[1:]]
                level[ngram] = (count - discounts[min(count, 3) - 1]) / stats[context][0] + gamma[context] * backed_off
            if lower is None:
                level[(-1,)] = gamma[()] * uniform  # <unk>
            probabilities.append(level)
            gammas.append(gamma)

        estimates = []
        for length, level in enumerate(probabilities, start=1):
            next_gammas = gammas[length] if length < self.order else {}
            entries = {
                ngram: (math.log10(probability), _log10(next_gammas.get(ngram))) for ngram, probability in level.items()
            }
            if length == 1:
                entries[(0,)] = (NEVER, _log10(next_gammas.get((0,))))
            estimates.append(entries)
        return estimates

    def write_arpa(self, handle: TextIO) -> None:
        """Write the estimated model in ARPA format (n-grams sorted by their words)."""
        estimates = self.estimate()
        names = {**dict(enumerate(self.vocabulary)), -1: UNKNOWN_WORD}
        handle.write("\n\\data\\\n")
        for length, entries in enumerate(estimates, start=1):
            handle.write(f"ngram {length}={len(entries)}\n")
        for length, entries in enumerate(estimates, start=1):
            handle.write(f"\n\\{length}-grams:\n")
            rows = sorted((" ".join(names[word] for word in ngram), values) for ngram, values in entries.items())
            for text, (log_probability, log_backoff) in rows:
                if log_backoff is None:
                    handle.write(f"{log_probability:.7g}\t{text}\n")
                else:
                    handle.write(f"{log_probability:.7g}\t{text}\t{log_backoff:.7g}\n")
        handle.write("\n\\end\\\n")


def _log10(value: float | None) -> float | None:
    if value is None:
        return None
    return math.log10(value) if value > 0 else NEVER


__all__ = ["KneserNeyModel", "discounts_from_counts_of_counts", "FALLBACK_DISCOUNTS"]
