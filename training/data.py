"""Batch collation and cheap per-line image sizes for a `datasets` line-image split."""

import io

import datasets
import numpy as np
import torch
from PIL import Image


def image_sizes(dataset: datasets.Dataset, image_column: str = "image") -> tuple[np.ndarray, np.ndarray]:
    """(widths, heights) in pixels of every image, read from the file headers without decoding pixels.

    Returns:
        two int64 arrays of shape (len(dataset),).
    """
    raw = dataset.select_columns([image_column]).cast_column(image_column, datasets.Image(decode=False))
    widths = np.empty(len(raw), dtype=np.int64)
    heights = np.empty(len(raw), dtype=np.int64)
    for i, row in enumerate(raw):
        image = row[image_column]
        source = io.BytesIO(image["bytes"]) if image.get("bytes") is not None else image["path"]
        with Image.open(source) as opened:  # parses the header only
            widths[i], heights[i] = opened.size
    return widths, heights


class LineCollator:
    """Turns a list of dataset rows into model inputs with the processor.

    Each batch is padded to its widest line (the processor rounds up to the width stride, or up to
    `width_multiple` columns when given: fewer distinct shapes for compiled models) and carries the
    column mask; labels are padded with -100. With `pad_to_width`, every batch is instead padded
    to that width and has no mask, so the model reads the whole canvas as in the paper (for
    comparisons). `sample_id` and `text` pass through as lists, for evaluation.

    Returns a dict with `pixel_values` (B, C, H, W) float32, `pixel_mask` (B, W) int64 (not with
    `pad_to_width`), `labels` (B, L) int64 when `with_labels`, `sample_id` and `text` (B strings).
    """

    def __init__(
        self, processor, with_labels: bool = True, pad_to_width: int | None = None, width_multiple: int | None = None
    ):
        self.processor = processor
        self.with_labels = with_labels
        self.pad_to_width = pad_to_width
        self.width_multiple = width_multiple

    def __call__(self, rows: list[dict]) -> dict:
        texts = [row["text"] for row in rows]
        sample_ids = [row["sample_id"] for row in rows]
        features = self.processor(
            images=[row["image"] for row in rows],
            text=texts if self.with_labels else None,
            sample_ids=sample_ids,
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
        return batch
