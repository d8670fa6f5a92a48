"""The paper's "as ASR" text normalisation, applied to references and predictions alike."""

import unicodedata


def normalize_as_asr(text: str) -> str:
    """Lower-case, drop every Unicode punctuation character (categories P*), collapse whitespace.

    Punctuation is deleted rather than replaced by a space, so "don't" becomes "dont"; any
    whitespace run left behind collapses to one space and the ends are stripped.
    """
    text = "".join(char for char in text.lower() if not unicodedata.category(char).startswith("P"))
    return " ".join(text.split())
