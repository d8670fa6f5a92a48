"""Named per-dataset text normalisation.

A profile has two sides: `preprocess` normalises a transcription before it becomes a
CTC target, and `postprocess` normalises a greedy prediction before it is scored or
shown. References in the datasets stay raw; the profile name travels with the
processor so training and inference agree.

Profiles: "none", "iam", "hkr", "saintgall" (whitespace only), "bentham", "peter".
Every profile collapses runs of whitespace into one space and strips both ends. A third side,
`from_plain_text`, writes ordinary text (a corpus for a language model) in the dataset's
transcription conventions.
"""

import re

_WHITESPACE = re.compile(r"\s+")


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace into one space and strip both ends."""
    return _WHITESPACE.sub(" ", text).strip()


class TextRules:
    """Whitespace normalisation on both sides; the base of every profile."""

    def __init__(self, name: str):
        self.name = name

    def preprocess(self, text: str) -> str:
        """Normalise a transcription before it is encoded as a CTC target."""
        return normalize_whitespace(text)

    def postprocess(self, text: str) -> str:
        """Normalise a decoded prediction."""
        return normalize_whitespace(text)

    def from_plain_text(self, text: str) -> str:
        """Write ordinary text (a corpus line) in the dataset's transcription conventions; `preprocess` follows."""
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

    Plain text (a Latin corpus, whose punctuation is already ".") takes the manuscript's habits:
    the letters "et" become the ligature "&" wherever they occur ("etiam" -> "&iam"), and the
    enclitic "-que" is abbreviated "q." ("itaque" -> "itaq.").
    """

    _ENCLITIC_QUE = re.compile(r"(?<=\w)que\b")

    def from_plain_text(self, text: str) -> str:
        return self._ENCLITIC_QUE.sub("q.", text).replace("et", "&").replace("q..", "q.")


_PROFILES = {
    "none": TextRules,
    "iam": TextRules,
    "hkr": TextRules,
    "saintgall": SaintGallTextRules,
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
