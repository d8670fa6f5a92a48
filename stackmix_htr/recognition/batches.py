"""Running a recognizer over the lines of a dataset in padded batches: the one collator and the one loop
that evaluation, training's validation and the char-mask alignment share.

(Single images and lists of them go through the "handwriting-recognition" pipeline, which batches
lines of similar width together the same way and lives with the model files.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
from torch.utils.data import DataLoader


class LineCollator:
    """Turns a list of dataset rows into model inputs with the processor.

    Each batch is padded to its widest line (the processor rounds up to the width stride, or up to
    `width_multiple` columns when given: fewer distinct shapes for compiled models) and carries the
    column mask; labels are padded with -100. With `pad_to_width`, every batch is instead padded
    to that width and has no mask, so the model reads the whole canvas as in the paper (for
    comparisons). `sample_id` and `text` pass through as lists, for evaluation (None where a row has
    none); with `keep_images` the rows' images too (as the dataset gives them).

    Returns a dict with `pixel_values` (B, C, H, W) float32, `pixel_mask` (B, W) int64 (not with
    `pad_to_width`), `labels` (B, L) int64 when `with_labels`, `sample_id` and `text` (B each), and
    `images` with `keep_images`.
    """

    def __init__(
        self,
        processor,
        with_labels: bool = True,
        pad_to_width: int | None = None,
        width_multiple: int | None = None,
        keep_images: bool = False,
    ):
        self.processor = processor
        self.with_labels = with_labels
        self.pad_to_width = pad_to_width
        self.width_multiple = width_multiple
        self.keep_images = keep_images

    def __call__(self, rows: list[dict]) -> dict:
        texts = [row.get("text") for row in rows]
        sample_ids = [row.get("sample_id") for row in rows]
        features = self.processor(
            images=[row["image"] for row in rows],
            text=texts if self.with_labels else None,
            sample_ids=sample_ids if None not in sample_ids else None,
        )
        batch = dict(features)
        if self.pad_to_width is not None:
            pixel_values = batch.pop("pixel_values")
            batch.pop("pixel_mask")
            padding = self.pad_to_width - pixel_values.shape[-1]
            batch["pixel_values"] = torch.nn.functional.pad(pixel_values, (0, padding))
        elif self.width_multiple:
            padding = -batch["pixel_values"].shape[-1] % self.width_multiple
            batch["pixel_values"] = torch.nn.functional.pad(batch["pixel_values"], (0, padding))
            batch["pixel_mask"] = torch.nn.functional.pad(batch["pixel_mask"], (0, padding))
        batch["sample_id"] = sample_ids
        batch["text"] = texts
        if self.keep_images:
            batch["images"] = [row["image"] for row in rows]
        return batch


def dataset_loader(data, processor, batch_size: int, num_workers: int = 0, **collator_options) -> DataLoader:
    """Padded batches of a dataset split's lines, in its order (no labels unless asked)."""
    collator_options.setdefault("with_labels", False)
    return DataLoader(
        data, batch_size=batch_size, num_workers=num_workers, collate_fn=LineCollator(processor, **collator_options)
    )


def forward_batches(
    model,
    batches: Iterable[dict],
    device: str | torch.device | None = None,
    autocast: Callable = contextlib.nullcontext,
) -> Iterator[tuple[dict, object]]:
    """Each batch and the model's outputs for it, without gradients and with the model in eval mode.

    A batch's tensors are moved to `device` when one is given (a prepared Accelerate loader has put
    them there already); `labels`, when the batch has them, give the outputs a loss. `autocast`
    makes the forward pass's precision context (e.g. `accelerator.autocast`).
    """
    model.eval()
    with torch.no_grad():
        for batch in batches:
            inputs = {
                name: batch[name] if device is None else batch[name].to(device)
                for name in ("pixel_values", "pixel_mask", "labels")
                if name in batch
            }
            with autocast():
                outputs = model(**inputs)
            yield batch, outputs
