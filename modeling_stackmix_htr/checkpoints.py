"""Checkpoints as the commands load and run them (eval.py, transcribe.py, the StackMix tools).

`load_checkpoint` gives the model and processor of a `save_pretrained` folder (or Hub id); any
problem is one `InputError` naming the folder. `forward_batches` and `transcribe` run a model over
the lines of a dataset split in padded batches.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from transformers import AutoModelForCTC, AutoProcessor

from data_builders.errors import InputError
from data_builders.loading import could_be_hub_id

from .modeling_stackmix_htr import StackMixHTRForCTC
from .processing_stackmix_htr import StackMixHTRProcessor


@dataclass
class Checkpoint:
    name: str
    path: str
    model: StackMixHTRForCTC
    processor: StackMixHTRProcessor


def load_checkpoint(
    path: str, name: str | None = None, backend: str = "pytorch", label: str | None = None
) -> Checkpoint:
    """Model and processor of a checkpoint; any problem becomes an InputError that starts with
    `label` (default "checkpoint PATH"). `backend="onnx"` runs the model with ONNX Runtime."""
    label = label or f"checkpoint {path}"
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
            from .onnx import StackMixHTROnnxModel

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


class _ImageCollator:
    """DataLoader collate: a list of rows -> processor inputs (runs in the workers)."""

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, rows: list[dict]):
        return self.processor(images=[row["image"] for row in rows], return_tensors="pt")


def forward_batches(checkpoint: Checkpoint, data, batch_size: int, num_workers: int, device: str):
    """Yield (logits, output_lengths) on the CPU for consecutive batches of `data` (a dataset with an image column)."""
    model = checkpoint.model.to(device).eval()
    loader = DataLoader(
        data.select_columns(["image"]),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=_ImageCollator(checkpoint.processor),
    )
    try:
        with torch.inference_mode():
            for batch in loader:
                outputs = model(
                    pixel_values=batch["pixel_values"].to(device), pixel_mask=batch["pixel_mask"].to(device)
                )
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
    for logits, lengths in forward_batches(checkpoint, data, batch_size, num_workers, device):
        predictions.extend(checkpoint.processor.batch_decode(logits, output_lengths=lengths, **(decoding or {})))
    return predictions, time.perf_counter() - start
