"""Write a typed text as one handwritten line from a token bank, saying what the bank cannot write.

`StackMixGenerator.generate` refuses a text with a character no slice shows; a person typing a
text wants the rest written anyway and the missing characters named. `write_line` leaves those
characters out (whitespace then collapses), writes what remains with a generator seeded by
`seed`, so the same text and seed give the same line, and reports both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modeling_stackmix_htr.text_rules import normalize_whitespace

from .generator import StackMixGenerator


@dataclass
class WrittenLine:
    """image: uint8 (H, W[, C]), or None when nothing of the text can be written. text: what the
    image shows. missing: the characters of the request the bank has no slice for, in order of first
    appearance. tokens: the bank tokens stacked, left to right."""

    image: np.ndarray | None
    text: str
    missing: list[str]
    tokens: list[str]
    seed: int


def write_line(generator: StackMixGenerator, text: str, seed: int) -> WrittenLine:
    """`text` as a line in the bank's handwriting, drawn with `seed`; unknown characters are left out."""
    requested = normalize_whitespace(text)
    missing = [char for char in dict.fromkeys(requested) if char not in generator.characters]
    writable = normalize_whitespace("".join(char for char in requested if char not in missing))
    result = generator.generate_with_tokens(writable, np.random.default_rng(seed)) if writable else None
    if result is None:
        return WrittenLine(None, "", missing, [], seed)
    image, tokens = result
    return WrittenLine(image, writable, missing, tokens, seed)


__all__ = ["WrittenLine", "write_line"]
