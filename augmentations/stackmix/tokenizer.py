"""Longest-match tokenisation of text into bank tokens (multi-character expressions, spaces included)."""

from __future__ import annotations

from typing import Iterable

import numpy as np

# The paper draws the longest token allowed for a sample from 3..8 with these weights.
MAX_LENGTH_CHOICES = (3, 4, 5, 6, 7, 8)
MAX_LENGTH_WEIGHTS = (0.05, 0.15, 0.20, 0.20, 0.20, 0.20)
_CUMULATIVE_WEIGHTS = np.cumsum(MAX_LENGTH_WEIGHTS) / sum(MAX_LENGTH_WEIGHTS)


def sample_max_length(rng: np.random.Generator) -> int:
    """Draw the longest token length of one sample (3..8, the paper's weights)."""
    index = int(np.searchsorted(_CUMULATIVE_WEIGHTS, rng.random(), side="right"))
    return MAX_LENGTH_CHOICES[min(index, len(MAX_LENGTH_CHOICES) - 1)]


class TokenTrie:
    """A character trie over token strings; `tokenize` takes the longest known token at each position.

    Nodes are integers; edges live in one dict keyed by (node, character), which is much
    lighter than a dict per node for the hundreds of thousands of tokens of a large bank.
    """

    def __init__(self, tokens: Iterable[str]):
        self._edges: dict[tuple[int, str], int] = {}
        self._terminal: list[bool] = [False]
        self.max_token_length = 0
        for token in tokens:
            self.add(token)

    def add(self, token: str) -> None:
        if not token:
            raise ValueError("a token must not be empty")
        node = 0
        for char in token:
            child = self._edges.get((node, char))
            if child is None:
                child = len(self._terminal)
                self._edges[(node, char)] = child
                self._terminal.append(False)
            node = child
        self._terminal[node] = True
        self.max_token_length = max(self.max_token_length, len(token))

    def __contains__(self, token: str) -> bool:
        node = 0
        for char in token:
            node = self._edges.get((node, char))
            if node is None:
                return False
        return bool(token) and self._terminal[node]

    def longest_match(self, text: str, start: int, max_length: int) -> int:
        """Length of the longest token (at most `max_length`) that starts at `start`; 0 if none."""
        node, best = 0, 0
        for offset, char in enumerate(text[start : start + max_length], start=1):
            node = self._edges.get((node, char))
            if node is None:
                break
            if self._terminal[node]:
                best = offset
        return best

    def tokenize(self, text: str, max_length: int | None = None) -> list[str] | None:
        """Split `text` into tokens, longest first; None when some position starts no token."""
        max_length = max_length or self.max_token_length
        tokens, start = [], 0
        while start < len(text):
            length = self.longest_match(text, start, max_length)
            if length == 0:
                return None
            tokens.append(text[start : start + length])
            start += length
        return tokens
