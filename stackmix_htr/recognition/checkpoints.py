"""Checkpoints as the commands load and run them (eval.py, transcribe.py, the StackMix tools).

`load_checkpoint` gives the model and processor of a `save_pretrained` folder (or Hub id); any
problem is one `InputError` naming the folder. `forward_lines` and `transcribe` run a checkpoint over
the lines of a dataset split in padded batches (`batches`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCTC, AutoProcessor

from modeling_stackmix_htr import StackMixHTRForCTC, StackMixHTRProcessor
from stackmix_htr.common.errors import InputError
from stackmix_htr.common.hub import could_be_hub_id
from stackmix_htr.pretrained import resolve_model

from .batches import dataset_loader, forward_batches


@dataclass
class Checkpoint:
    name: str
    path: str
    model: StackMixHTRForCTC
    processor: StackMixHTRProcessor


def load_checkpoint(
    path: str, name: str | None = None, backend: str = "pytorch", label: str | None = None
) -> Checkpoint:
    """Model and processor of a checkpoint (a folder, a Hub id, or a shipped recognizer's short name); any
    problem becomes an InputError that starts with `label` (default "checkpoint PATH"). `backend="onnx"`
    runs the model with ONNX Runtime."""
    label = label or f"checkpoint {path}"
    path = resolve_model(path)
    local = Path(path)
    if local.is_dir():
        config_file = local / "config.json"
        if not config_file.is_file():
            raise InputError(f"{label}: config.json is missing")
        try:
            json.loads(config_file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InputError(f"{label}: config.json is not valid JSON ({error})") from error
    elif local.exists():
        raise InputError(f"{label}: not a directory")
    elif not could_be_hub_id(path):
        raise InputError(f"{label}: no such folder")
    try:
        if backend == "onnx":
            from modeling_stackmix_htr.onnx import StackMixHTROnnxModel

            model, loading_info = StackMixHTROnnxModel.from_pretrained(path, num_threads=torch.get_num_threads()), {}
        else:
            model, loading_info = AutoModelForCTC.from_pretrained(path, output_loading_info=True)
        processor = AutoProcessor.from_pretrained(path)
    except Exception as error:  # transformers, safetensors and the Hub raise many different types
        where = "" if local.is_dir() else " (no such local directory; tried the Hub)"
        raise InputError(f"{label}{where}: cannot be loaded: {type(error).__name__}: {error}") from error
    incomplete = {kind: keys for kind, keys in loading_info.items() if kind != "error_msgs" and keys}
    if incomplete or loading_info.get("error_msgs"):
        raise InputError(f"{label}: weights do not match the model: {incomplete or loading_info}")
    if processor.vocab_size != model.config.vocab_size:
        raise InputError(
            f"{label}: the processor has {processor.vocab_size} classes but the model {model.config.vocab_size}"
        )
    return Checkpoint(name=name or local.name, path=path, model=model, processor=processor)


def forward_lines(checkpoint: Checkpoint, data, batch_size: int, num_workers: int, device: str):
    """Yield (logits, output_lengths) on the CPU for consecutive batches of `data` (a dataset with an image column)."""
    model = checkpoint.model.to(device)
    loader = dataset_loader(data.select_columns(["image"]), checkpoint.processor, batch_size, num_workers)
    try:
        for _, outputs in forward_batches(model, loader, device):
            # Frames past a line's valid length saw only padding; output_lengths drops them.
            yield outputs.logits.cpu(), outputs.output_lengths.cpu()
    finally:
        checkpoint.model.to("cpu")


def transcribe(checkpoint: Checkpoint, data, batch_size: int, num_workers: int, device: str, decoding=None):
    """Transcription of every line of `data` (`decoding`: keyword arguments of the processor's `batch_decode`).

    Returns:
        (predictions, seconds): one post-processed string per line, and the wall time of the
        whole loop (image decoding, resizing, forward pass and CTC decoding).
    """
    predictions = []
    start = time.perf_counter()
    for logits, lengths in forward_lines(checkpoint, data, batch_size, num_workers, device):
        predictions.extend(checkpoint.processor.batch_decode(logits, output_lengths=lengths, **(decoding or {})))
    return predictions, time.perf_counter() - start
