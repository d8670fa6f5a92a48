"""The recognizer's output layer (one row of weights and one bias per CTC class): its rows carried
over between vocabularies, and the initial bias of a fresh model.

The initial bias matters for the CTC blank plateau: a model that puts most of its probability on
the blank emits nothing (100 % CER) until its features learn where the characters are. A fresh
model starts with `prior` (the default of `--blank_bias`): every class at the log of its share of the
training frames, the distribution the first updates otherwise spend learning; on Saint Gall it left
the plateau in 3 epochs instead of 13 (bench/RESULTS.md, "plateau"). `--blank_bias B` instead sets
only the blank's score (0: every class alike, the paper's start; a negative B starts with fewer blanks).
"""

import argparse
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from modeling_stackmix_htr.tokenization_stackmix_htr import BLANK_TOKEN, UNKNOWN_TOKEN

from .checks import encode_all


def output_layer(model) -> nn.Linear:
    """The last Linear of the head."""
    return model.head[-1]


@torch.no_grad()
def copy_output_rows(source: nn.Linear, target: nn.Linear, source_vocab: dict, target_vocab: dict) -> int:
    """Copy the rows (weights and bias) of the tokens both vocabularies hold from `source` to `target`.

    A token only `target_vocab` holds keeps `target`'s weights and gets the mean bias of the
    source's characters (blank and "<unk>" aside): it starts as likely as an average known one.

    Returns:
        the number of rows copied.
    """
    characters = [i for token, i in source_vocab.items() if token not in (BLANK_TOKEN, UNKNOWN_TOKEN)]
    new_bias = source.bias[characters].mean() if characters else source.bias.new_zeros(())
    copied = 0
    for token, target_id in target_vocab.items():
        if token in source_vocab:
            target.weight[target_id] = source.weight[source_vocab[token]]
            target.bias[target_id] = source.bias[source_vocab[token]]
            copied += 1
        else:
            target.bias[target_id] = new_bias
    return copied


def parse_blank_bias(value: str) -> float | str:
    """`--blank_bias`: a number, or "prior"."""
    if value == "prior":
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'prior', got {value!r}") from None


def initial_output_bias(
    spec: float | str, processor, texts: Sequence[str], sample_ids: Sequence[str], frames: Sequence[int]
) -> torch.Tensor:
    """The output-layer bias a fresh model starts with.

    Args:
        spec: a number (the blank's bias; every other class 0) or "prior" (every class the log of
            its share of the training frames: a character's share is its count over all frames,
            the blank's the frames the labels leave over; unseen classes count once).
        texts, sample_ids: the training transcriptions (raw: the processor applies its text rules).
        frames: output frames of each training line.

    Returns:
        a float32 tensor of shape (vocab_size,).
    """
    bias = torch.zeros(processor.vocab_size)
    if spec != "prior":
        bias[processor.blank_id] = float(spec)
        return bias
    label_ids, _ = encode_all(processor, texts, sample_ids)
    counts = np.bincount(
        np.fromiter((i for ids in label_ids for i in ids), dtype=np.int64), minlength=processor.vocab_size
    )
    total_frames = max(int(np.sum(frames)), 1)
    counts[processor.blank_id] = max(total_frames - int(counts.sum()), 1)
    return torch.from_numpy(np.log(np.maximum(counts, 1) / total_frames)).float()


@torch.no_grad()
def set_output_bias(model, bias: torch.Tensor) -> None:
    output_layer(model).bias.copy_(bias)
