"""StackMix as a training transform: replace batch samples by generated lines."""

from __future__ import annotations

import logging
import os

import numpy as np
import torch.utils.data

from .corpus import MAX_CORPUS_LENGTH, Corpus, SplicedTexts, load_corpus
from .generator import StackMixGenerator
from .images import match_layout

logger = logging.getLogger(__name__)


class StackMixReplacement:
    """Replace each sample of a batch, with probability `p`, by a StackMix line.

    Called on a batch dict of lists (`image`: PIL images or uint8 arrays, `text`, `sample_id`,
    other columns passed through untouched); returns a new dict. A replaced sample gets a
    generated uint8 image in the layout of the image it replaces (grayscale stays (H, W)),
    a text from the corpus (or, without a corpus, spliced bank texts), and a sample_id
    "stackmix-r<rank>w<worker>e<epoch>-<n>". A text that cannot be rendered is redrawn up to
    `max_tries` times; after that the original sample is kept.

    Randomness comes from (seed, rank, epoch, DataLoader worker id): fresh every epoch,
    distinct per worker and per process, reproducible. The bank and corpus are loaded when the
    transform is made, so a bad bank or corpus stops training before it starts; a pickled copy
    (a spawned worker) leaves them out and loads them at its first call.
    `set_epoch` must reach the workers: with `persistent_workers=True` they keep the epoch they
    were started with.
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
    ):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.bank_dir = str(bank_dir)
        self.corpus_file = None if corpus_file is None else str(corpus_file)
        self.p, self.seed, self.rank = p, seed, rank
        self.text_rules, self.max_length, self.max_tries = text_rules, max_length, max_tries
        self.epoch = 0
        self._generator: StackMixGenerator | None = None
        self._texts: Corpus | SplicedTexts | None = None
        self._stream_key: tuple[int, int] | None = None
        self._rng: np.random.Generator | None = None
        self._count = 0
        self._load()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_generator=None, _texts=None, _stream_key=None, _rng=None, _count=0)
        return state

    def _load(self) -> None:
        self._generator = StackMixGenerator.from_bank(self.bank_dir)
        if self.corpus_file is None:
            self._texts = SplicedTexts(self._generator.bank.texts, self.max_length)
        else:
            self._texts = load_corpus(
                self.corpus_file, self._generator.characters, self.max_length, text_rules=self.text_rules
            )

    def _stream(self) -> tuple[np.random.Generator, int]:
        """The random stream of this (epoch, worker); restarted when either changes."""
        info = torch.utils.data.get_worker_info()
        worker = 0 if info is None else info.id + 1
        key = (self.epoch, worker)
        if key != self._stream_key:
            self._stream_key, self._count = key, 0
            self._rng = np.random.default_rng([self.seed, self.rank, self.epoch, worker])
        return self._rng, worker

    def _generate(self, rng: np.random.Generator) -> tuple[np.ndarray, str] | None:
        for _ in range(self.max_tries):
            text = self._texts.sample(rng)
            image = self._generator.generate(text, rng)
            if image is not None:
                return image, text
        logger.warning("StackMix: no renderable text in %d tries; keeping the original sample", self.max_tries)
        return None

    def __call__(self, batch: dict) -> dict:
        if self._generator is None:
            self._load()
        rng, worker = self._stream()
        images, texts = list(batch["image"]), list(batch["text"])
        sample_ids = list(batch.get("sample_id", [None] * len(images)))
        for index in np.flatnonzero(rng.random(len(images)) < self.p):
            generated = self._generate(rng)
            if generated is None:
                continue
            image, text = generated
            images[index] = match_layout(image, images[index])
            texts[index] = text
            sample_ids[index] = f"stackmix-r{self.rank}w{worker}e{self.epoch}-{self._count}"
            self._count += 1
        result = dict(batch)
        result.update(image=images, text=texts)
        if "sample_id" in batch:
            result["sample_id"] = sample_ids
        return result
