"""StackMix as a training transform: generated lines in place of, or beside, the real ones."""

from __future__ import annotations

import logging
import os

import numpy as np

from ..seeding import stream_key, stream_seed
from .corpus import DEFAULT_CORPUS_MIX, MAX_CORPUS_LENGTH, TextSource, build_text_source
from .generator import StackMixGenerator
from .images import match_layout

logger = logging.getLogger(__name__)

MODES = ("replace", "add")


class StackMixReplacement:
    """Put StackMix lines into training batches.

    Called on a batch dict of lists (`image`: PIL images or uint8 arrays, `text`, `sample_id`,
    other columns passed through); returns a new dict.

    * mode "replace" (the paper): each sample is replaced, with probability `p`, by a generated line;
    * mode "add": `ratio` generated lines per real line are appended to the batch (a fractional
      part is drawn), so every real line is still seen every epoch.

    The strength (p or ratio) follows a warm-up: nothing before `start_epoch`, then a linear ramp
    to full strength over `ramp_epochs` epochs (full at once when 0). A generated sample gets a uint8
    image in the layout of a real image of the batch (grayscale stays (H, W)), a text from the text
    source (see `corpus.build_text_source`: recombined bank texts, a corpus in the manuscript's
    spelling, or a mix), the other columns of that real sample, and a sample_id
    "stackmix-r<rank>w<worker>e<epoch>-<n>". A text that cannot be rendered is redrawn up to
    `max_tries` times; after that the slot keeps its real sample (replace) or stays empty (add).

    Randomness comes from (seed, rank, epoch, DataLoader worker id): fresh every epoch, distinct
    per worker and per process, reproducible. The bank and texts are loaded when the transform is
    made, so a bad bank or corpus stops training before it starts; a pickled copy (a spawned worker)
    leaves them out and loads them at its first call. `set_epoch` must reach the workers: with
    `persistent_workers=True` they keep the epoch they were started with.
    """

    def __init__(
        self,
        bank_dir: str | os.PathLike,
        corpus_file: str | os.PathLike | None = None,
        p: float = 0.8,
        seed: int = 0,
        rank: int = 0,
        text_rules: str = "none",
        max_length: int = MAX_CORPUS_LENGTH,
        max_tries: int = 20,
        mode: str = "replace",
        ratio: float = 1.0,
        start_epoch: int = 0,
        ramp_epochs: int = 0,
        corpus_mix: float = DEFAULT_CORPUS_MIX,
    ):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if ratio < 0 or start_epoch < 0 or ramp_epochs < 0:
            raise ValueError(
                f"ratio, start_epoch and ramp_epochs must be non-negative, got {ratio}, {start_epoch}, {ramp_epochs}"
            )
        self.bank_dir = str(bank_dir)
        self.corpus_file = None if corpus_file is None else str(corpus_file)
        self.p, self.seed, self.rank = p, seed, rank
        self.mode, self.ratio = mode, ratio
        self.start_epoch, self.ramp_epochs = start_epoch, ramp_epochs
        self.text_rules, self.max_length, self.max_tries = text_rules, max_length, max_tries
        self.corpus_mix = corpus_mix
        self.epoch = 0
        self._generator: StackMixGenerator | None = None
        self._texts: TextSource | None = None
        self._stream_key: tuple[int, int] | None = None
        self._rng: np.random.Generator | None = None
        self._count = 0
        self._load()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def strength(self, epoch: int | None = None) -> float:
        """The share of full strength (p or ratio) used at `epoch` (default: the current one)."""
        epoch = self.epoch if epoch is None else epoch
        if epoch < self.start_epoch:
            return 0.0
        if self.ramp_epochs == 0:
            return 1.0
        return min(1.0, (epoch - self.start_epoch + 1) / self.ramp_epochs)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_generator=None, _texts=None, _stream_key=None, _rng=None, _count=0)
        return state

    def _load(self) -> None:
        self._generator = StackMixGenerator.from_bank(self.bank_dir)
        self._texts = build_text_source(
            self._generator.bank.texts,
            self._generator.characters,
            self.corpus_file,
            self.corpus_mix,
            self.text_rules,
            self.max_length,
        )

    def _stream(self) -> tuple[np.random.Generator, int]:
        """The random stream of this (epoch, worker); restarted when either changes."""
        key = stream_key(self.rank, self.epoch)
        if key != self._stream_key:
            self._stream_key, self._count = key, 0
            self._rng = np.random.default_rng(stream_seed(self.seed, *key))
        return self._rng, key[2]

    def _generate(self, rng: np.random.Generator) -> tuple[np.ndarray, str] | None:
        for _ in range(self.max_tries):
            text = self._texts.sample(rng)
            image = self._generator.generate(text, rng)
            if image is not None:
                return image, text
        logger.warning("StackMix: no renderable text in %d tries", self.max_tries)
        return None

    def _slots(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """(indices of the samples to replace, number of lines to append) for a batch of `size`."""
        strength = self.strength()
        if self.mode == "replace":
            return np.flatnonzero(rng.random(size) < self.p * strength), 0
        expected = self.ratio * strength * size
        return np.empty(0, dtype=np.int64), int(expected) + int(rng.random() < expected - int(expected))

    def __call__(self, batch: dict) -> dict:
        if self._generator is None:
            self._load()
        rng, worker = self._stream()
        columns = {name: list(values) for name, values in batch.items()}
        size = len(columns["image"])
        replaced, added = self._slots(size, rng)
        # (row to write, real row it takes its layout and other columns from)
        targets = [(index, index) for index in replaced] + [(None, int(rng.integers(size))) for _ in range(added)]
        for target, template in targets:
            generated = self._generate(rng)
            if generated is None:
                continue
            image, text = generated
            row = {name: values[template] for name, values in columns.items()}
            row.update(image=match_layout(image, row["image"]), text=text)
            if "sample_id" in row:
                row["sample_id"] = f"stackmix-r{self.rank}w{worker}e{self.epoch}-{self._count}"
            self._count += 1
            for name, values in columns.items():
                if target is None:
                    values.append(row[name])
                else:
                    values[target] = row[name]
        return columns
