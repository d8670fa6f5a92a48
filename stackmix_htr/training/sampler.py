"""Shuffled line batches, optionally grouped by width so that little padding is computed."""

import math
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class LineBatchSampler(Sampler[list[int]]):
    """Yields lists of dataset indices, reshuffled every epoch from `(seed, epoch)`.

    Without `widths` the batches are a plain random partition. With `widths` the lines are
    shuffled, cut into mega-batches of `mega_batch_factor * batch_size` lines, each mega-batch is
    sorted by width and cut into batches, and the order of the batches is shuffled: a batch holds
    lines of similar width (little padding) while every epoch still sees new combinations.

    The order depends only on the seed and the epoch, so every process computes the same
    sequence; `accelerate` shards it (process i takes every i-th batch) when the DataLoader is
    prepared. A short last batch (when `drop_last` is False) always comes last, which is what
    accelerate's sharding expects.

    Args:
        num_samples (`int`): dataset length.
        batch_size (`int`): lines per batch.
        seed (`int`): base seed; epoch `e` uses `seed + e`.
        widths (`Sequence[int]`, *optional*): pixel width of every line, enabling grouping.
        mega_batch_factor (`int`): batches per sorted mega-batch.
        drop_last (`bool`): drop the last batch when it is short.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        seed: int,
        widths: Sequence[int] | None = None,
        mega_batch_factor: int = 50,
        drop_last: bool = False,
    ):
        if batch_size < 1 or num_samples < 1:
            raise ValueError(f"need a positive batch_size and num_samples, got {batch_size} and {num_samples}")
        if widths is not None and len(widths) != num_samples:
            raise ValueError(f"got {len(widths)} widths for {num_samples} samples")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.widths = None if widths is None else torch.as_tensor(widths)
        self.mega_batch_factor = mega_batch_factor
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.num_samples, generator=generator)
        if self.widths is not None:
            mega = self.batch_size * self.mega_batch_factor
            chunks = [
                chunk[torch.argsort(self.widths[chunk], descending=True, stable=True)]
                for chunk in torch.split(order, mega)
            ]
            order = torch.cat(chunks)
        batches = list(torch.split(order, self.batch_size))
        short = batches.pop() if len(batches[-1]) < self.batch_size else None
        if self.widths is not None:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator)]
        for batch in batches:
            yield batch.tolist()
        if short is not None and not self.drop_last:
            yield short.tolist()
