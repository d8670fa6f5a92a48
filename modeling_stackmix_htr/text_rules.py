"""Named per-dataset text normalisation.

A profile has two sides: `preprocess` normalises a transcription before it becomes a
CTC target, and `postprocess` normalises a greedy prediction before it is scored or
shown. References in the datasets stay raw; the profile name travels with the
processor so training and inference agree.

Profiles: "none", "iam", "hkr", "saintgall" (whitespace only), "saintgall_unpunctuated", "bentham", "peter".
Every profile collapses runs of whitespace into one space and strips both ends. A third side,
`from_plain_text`, writes ordinary text (a corpus for a language model or for StackMix) in the
dataset's transcription conventions: the profile's spelling rules (`SpellingRule`) rewrite the
strings the manuscript writes otherwise, always where the profile says so, or as often as the
training transcriptions do once the rules are fitted on them (`spelling_rules(training_texts)`).
"""

import re
from collections import Counter

_WHITESPACE = re.compile(r"\s+")


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace into one space and strip both ends."""
    return _WHITESPACE.sub(" ", text).strip()


# Where a string sits in a word, trailing punctuation ignored: the whole word, its start, its end, inside.
POSITIONS = ("word", "start", "end", "middle")
_NON_SPACE = re.compile(r"\S+")
_TRAILING_PUNCTUATION = ".,;:!?"


def _position(word: str, start: int, length: int) -> str:
    """Where the span [start, start + length) of `word` sits, punctuation at the word's end ignored."""
    core = len(word.rstrip(_TRAILING_PUNCTUATION)) or len(word)
    at_start, at_end = start == 0, start + length >= core
    if at_start and at_end:
        return "word"
    return "start" if at_start else "end" if at_end else "middle"


class SpellingRule:
    """Plain text's `plain` written `written`, as the manuscript does, by position in the word.

    Unfitted, the rule rewrites every lower-case `plain` at `positions`. `fit` counts, per position,
    how often the training transcriptions hold each form; the share of `written` is then the rate
    of that position (the unfitted one where neither form occurs). `apply` rewrites with those
    rates: drawn with `rng` (texts as varied as the transcriptions), else where the rate is at
    least one half (the usual form).
    """

    def __init__(self, plain: str, written: str, positions: tuple[str, ...] = POSITIONS):
        unknown = set(positions) - set(POSITIONS)
        if unknown:
            raise ValueError(f"unknown position(s) {sorted(unknown)}; choose from {', '.join(POSITIONS)}")
        self.plain, self.written, self.positions = plain, written, positions
        self.counts: dict[str, Counter] = {position: Counter() for position in POSITIONS}

    def fit(self, texts: list[str]) -> "SpellingRule":
        for text in texts:
            for match in _NON_SPACE.finditer(text):
                word = match[0]
                for form in (self.written, self.plain):
                    for found in re.finditer(re.escape(form), word):
                        self.counts[_position(word, found.start(), len(form))][form] += 1
        return self

    def rate(self, position: str) -> float:
        counts = self.counts[position]
        total = counts[self.written] + counts[self.plain]
        if total == 0:
            return float(position in self.positions)
        return counts[self.written] / total

    def apply(self, text: str, rng=None) -> str:
        """`text` with `plain` rewritten; `rng` (a numpy Generator) draws each occurrence at its position's rate."""

        def rewrite(word: str, found: re.Match) -> str:
            rate = self.rate(_position(word, found.start(), len(self.plain)))
            return self.written if (rng.random() < rate if rng is not None else rate >= 0.5) else found[0]

        def rewrite_word(match: re.Match) -> str:
            word = match[0]
            rewritten = re.sub(re.escape(self.plain), lambda found: rewrite(word, found), word)
            # A written form ending in punctuation absorbs the same mark after it ("itaque." -> "itaq.").
            ending = self.written[-1]
            if ending in _TRAILING_PUNCTUATION:
                rewritten = rewritten.replace(self.written + ending, self.written)
            return rewritten

        return _NON_SPACE.sub(rewrite_word, text) if self.plain in text else text

    def describe(self) -> str:
        def share(position: str) -> str:
            counts = self.counts[position]
            seen = counts[self.written] + counts[self.plain]
            evidence = f"{counts[self.written]}/{seen}" if seen else "unseen"
            return f"{position} {self.rate(position):.0%} ({evidence})"

        return f"{self.plain!r} written {self.written!r}: " + ", ".join(map(share, POSITIONS))


class TextRules:
    """Whitespace normalisation on both sides; the base of every profile."""

    # (plain, written, positions) of each SpellingRule, applied in this order.
    SPELLINGS: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def __init__(self, name: str):
        self.name = name

    def preprocess(self, text: str) -> str:
        """Normalise a transcription before it is encoded as a CTC target."""
        return normalize_whitespace(text)

    def postprocess(self, text: str) -> str:
        """Normalise a decoded prediction."""
        return normalize_whitespace(text)

    def spelling_rules(self, training_texts: list[str] | None = None) -> list[SpellingRule]:
        """The profile's spelling rules, fitted on `training_texts` when given."""
        return [SpellingRule(*spelling).fit(training_texts or []) for spelling in self.SPELLINGS]

    def from_plain_text(self, text: str, spelling_rules: list[SpellingRule] | None = None, rng=None) -> str:
        """Write ordinary text (a corpus line) in the dataset's transcription conventions; `preprocess` follows.

        `spelling_rules`: fitted ones (default: the profile's, unfitted); `rng`: see `SpellingRule.apply`.
        """
        for rule in self.spelling_rules() if spelling_rules is None else spelling_rules:
            text = rule.apply(text, rng)
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class BenthamTextRules(TextRules):
    """Bentham: accented e/a become plain letters, "⊥" is dropped, no space before
    , . ! : ; ? nor inside brackets and double quotes. Predictions get the same rules,
    so a model that emits "word ," is scored as "word,".
    """

    _PLAIN_LETTERS = str.maketrans(
        {
            **dict.fromkeys("éèêë", "e"),
            **dict.fromkeys("ÉÈÊË", "E"),
            **dict.fromkeys("àáâä", "a"),
            **dict.fromkeys("ÀÁÂÄ", "A"),
            "⊥": None,
        }
    )
    _SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.!:;?])")
    _SPACE_AFTER_OPENING = re.compile(r"([(\[{])\s+")
    _SPACE_BEFORE_CLOSING = re.compile(r"\s+([)\]}])")
    # Double quotes pair up left to right; the text between a pair loses its outer spaces.
    _QUOTED = re.compile(r'"\s*([^"]*?)\s*"')

    def _normalize(self, text: str) -> str:
        text = normalize_whitespace(text.translate(self._PLAIN_LETTERS))
        text = self._SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
        text = self._SPACE_AFTER_OPENING.sub(r"\1", text)
        text = self._SPACE_BEFORE_CLOSING.sub(r"\1", text)
        return self._QUOTED.sub(r'"\1"', text)

    def preprocess(self, text: str) -> str:
        return self._normalize(text)

    def postprocess(self, text: str) -> str:
        return self._normalize(text)


LATIN_TO_CYRILLIC = {"o": "о", "a": "а", "c": "с", "e": "е", "p": "р", "x": "х", "u": "у", "k": "к"}
CYRILLIC_TO_LATIN = {cyrillic: latin for latin, cyrillic in LATIN_TO_CYRILLIC.items()}


class PeterTextRules(TextRules):
    """Digital Peter: the Latin look-alikes o a c e p x u k become Cyrillic
    о а с е р х у к, and the editorial signs ⊕ ⊗ | [ ] are dropped.

    Decoding undoes the look-alike mapping only where it is meaningful: inside a word
    that has at least one Latin letter and no other Cyrillic letter, the Cyrillic
    look-alikes turn back into Latin ("Pеtеr" -> "Peter"); Russian words stay Cyrillic.
    """

    DROPPED_SIGNS = "⊕⊗|[]"
    _TO_TARGET = str.maketrans({**LATIN_TO_CYRILLIC, **dict.fromkeys(DROPPED_SIGNS, None)})
    _TO_LATIN = str.maketrans(CYRILLIC_TO_LATIN)
    _WORD = re.compile(r"\w+")

    def preprocess(self, text: str) -> str:
        return normalize_whitespace(text.translate(self._TO_TARGET))

    @staticmethod
    def _is_latin_word(word: str) -> bool:
        has_latin = False
        for char in word:
            if char in CYRILLIC_TO_LATIN or not char.isalpha():
                continue
            if "a" <= char.lower() <= "z":
                has_latin = True
            else:
                return False
        return has_latin

    def postprocess(self, text: str) -> str:
        text = normalize_whitespace(text)
        return self._WORD.sub(
            lambda match: match[0].translate(self._TO_LATIN) if self._is_latin_word(match[0]) else match[0], text
        )


class SaintGallTextRules(TextRules):
    """Saint Gall: the builder already decodes the glyph transcription ("-" joins, "|" words,
    "pt" -> ".", "et" -> "&"), so only whitespace is left to normalise in transcriptions.

    Plain text (a Latin corpus, whose punctuation is already ".") takes the scribe's habits: the
    enclitic "-que" abbreviated "q." ("itaque" -> "itaq."), and the letters "et" as the ligature "&"
    wherever they occur ("etiam" -> "&iam"). On the 466 training lines of the official split the
    scribe writes a word-final "que" as "q." 30 times of 37, and "et" as "&" 131 of 132 times as a
    word, 9 of 9 at a word's start, 69 of 70 at its end and 47 of 60 inside it.
    """

    SPELLINGS = (("que", "q.", ("end",)), ("et", "&", POSITIONS))


class SaintGallUnpunctuatedTextRules(SaintGallTextRules):
    """Saint Gall as its validation and test splits are transcribed: without punctuation marks.

    The database marks the punctuation glyph ("pt", ".") on the training pages only (716 marks on
    their 468 lines; none on the 235 validation and 707 test lines, though the pages show them), so a
    model taught the marks writes dots the references do not have. This profile drops ".,;:!?" from
    targets, predictions and plain text; the enclitic "-que" is abbreviated "q" (its mark dropped).
    """

    SPELLINGS = (("que", "q", ("end",)), ("et", "&", POSITIONS))
    _NO_PUNCTUATION = str.maketrans("", "", _TRAILING_PUNCTUATION)

    def preprocess(self, text: str) -> str:
        return super().preprocess(text.translate(self._NO_PUNCTUATION))

    def postprocess(self, text: str) -> str:
        return super().postprocess(text.translate(self._NO_PUNCTUATION))


_PROFILES = {
    "none": TextRules,
    "iam": TextRules,
    "hkr": TextRules,
    "saintgall": SaintGallTextRules,
    "saintgall_unpunctuated": SaintGallUnpunctuatedTextRules,
    "bentham": BenthamTextRules,
    "peter": PeterTextRules,
}

TEXT_RULES_NAMES = tuple(_PROFILES)


def get_text_rules(name: str) -> TextRules:
    """Return the text-rules profile called `name` (one of `TEXT_RULES_NAMES`)."""
    try:
        profile = _PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown text rules {name!r}; choose one of {', '.join(TEXT_RULES_NAMES)}") from None
    return profile(name)
