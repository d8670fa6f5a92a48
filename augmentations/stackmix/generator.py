"""StackMix line generation: tokenize a text into bank tokens, pick a slice per token, stack them."""

from __future__ import annotations

import os

import cv2
import numpy as np

from .bank import TokenBank
from .images import ink_mask, to_gray
from .tokenizer import TokenTrie, sample_max_length

SLICE_OVERLAP = 1  # pixels shared by neighbouring slices, as in the paper


def smooth_background(image: np.ndarray, window: int, background: int) -> np.ndarray:
    """Keep the ink, replace every background pixel by the mean background of its column window.

    The mean is over the background pixels of the full height and `window` columns centred on
    the pixel's column, so slices cut from pages of different brightness blend at their seams.
    image: uint8 (H, W) or (H, W, C).
    """
    height, width = image.shape[:2]
    ink = ink_mask(to_gray(image), dark_ink=background > 127).view(np.uint8)
    paper = 1 - ink
    # Column sums of background values and counts, then a running mean over `window` columns.
    masked = image * (paper if image.ndim == 2 else paper[:, :, None])
    sums = cv2.reduce(masked, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(width, -1)
    counts = cv2.reduce(paper, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(width)
    totals = np.concatenate([np.zeros((1, sums.shape[1] + 1)), np.cumsum(np.column_stack([sums, counts]), axis=0)])
    columns = np.arange(width)
    low = np.clip(columns - window // 2, 0, width)
    high = np.clip(columns + window - window // 2, 0, width)
    window_totals = totals[high] - totals[low]  # (W, C + 1): window sums of values, then of counts
    window_sums, window_counts = window_totals[:, :-1], window_totals[:, -1:]
    mean = np.where(window_counts > 0, window_sums / np.maximum(window_counts, 1), background)
    mean = np.clip(np.rint(mean), 0, 255).astype(np.uint8).reshape((width,) + image.shape[2:])
    smoothed = np.repeat(mean[None], height, axis=0)
    cv2.copyTo(image, ink, smoothed)
    return smoothed


class StackMixGenerator:
    """Renders text as a line image assembled from bank slices.

    Each call draws the longest token length from 3..8 (the paper's weights), tokenizes the
    text longest-match-first, takes a random slice per token and stacks the slices left to
    right with a 1-pixel overlap (the darker pixel wins there for dark
    ink). With probability `smoothing_p` the background is smoothed so seams vanish.
    """

    def __init__(self, bank: TokenBank, seed=None, smoothing_p: float = 0.1, smoothing_window: int = 32):
        self.bank = bank
        self.trie = TokenTrie(bank.slices)
        self.rng = np.random.default_rng(seed)
        self.smoothing_p = smoothing_p
        self.smoothing_window = smoothing_window
        self._combine = np.minimum if bank.background > 127 else np.maximum

    @classmethod
    def from_bank(cls, path: str | os.PathLike, seed=None, **kwargs) -> "StackMixGenerator":
        return cls(TokenBank.load(path), seed=seed, **kwargs)

    @property
    def characters(self) -> set[str]:
        return self.bank.characters

    def can_render(self, text: str) -> bool:
        """True when every character of `text` is in the bank (then tokenization always succeeds)."""
        return bool(text) and set(text) <= self.bank.characters

    def tokenize(self, text: str, max_length: int | None = None, rng: np.random.Generator | None = None):
        rng = rng or self.rng
        return self.trie.tokenize(text, max_length or sample_max_length(rng))

    def generate_with_tokens(
        self, text: str, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, list[str]] | None:
        """(image uint8 (H, W[, C]), tokens used), or None when `text` cannot be tokenized with the bank."""
        rng = rng or self.rng
        tokens = self.tokenize(text, rng=rng) if text else None
        if not tokens:
            return None
        candidates = [self.bank.slices[token] for token in tokens]
        picks = (rng.random(len(tokens)) * [len(rows) for rows in candidates]).astype(np.int64)
        pieces = [self.bank.slice_columns(*rows[pick]) for rows, pick in zip(candidates, picks)]
        image = self._stack(pieces)
        if rng.random() < self.smoothing_p:
            image = smooth_background(image, self.smoothing_window, self.bank.background)
        return image, tokens

    def generate(self, text: str, rng: np.random.Generator | None = None) -> np.ndarray | None:
        result = self.generate_with_tokens(text, rng)
        return None if result is None else result[0]

    def _stack(self, pieces: list[np.ndarray]) -> np.ndarray:
        """Concatenate column-major slices (w, H[, C]) with a 1-column overlap; return (H, W[, C])."""
        width = sum(len(piece) for piece in pieces) - SLICE_OVERLAP * (len(pieces) - 1)
        canvas = np.empty((width,) + pieces[0].shape[1:], dtype=np.uint8)
        x = 0
        for index, piece in enumerate(pieces):
            shared = canvas[x].copy() if index else None
            canvas[x : x + len(piece)] = piece
            if shared is not None:  # the overlap column keeps the ink of both slices
                self._combine(shared, piece[0], out=canvas[x])
            x += len(piece) - SLICE_OVERLAP
        if canvas.ndim == 2:
            return cv2.transpose(canvas)  # a blocked transpose, faster than numpy's strided copy
        return np.ascontiguousarray(np.swapaxes(canvas, 0, 1))
