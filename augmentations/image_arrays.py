"""Line images as the augmentations and StackMix work on them: uint8 numpy arrays, and PNG files.

`to_uint8_array` takes what datasets and users hand in (PIL images of any mode, numpy arrays) and
gives (H, W) for grayscale sources or (H, W, 3) for the others; `save_png` writes such an array (or
a PIL image) atomically.
"""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from stackmix_htr.common.atomic import write_file_atomic

GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def to_uint8_array(image, sample: str | None = None) -> np.ndarray:
    """A PIL image or numpy array as uint8 (H, W) for grayscale sources or (H, W, 3) otherwise.

    Bilevel ("1") and 16-bit images become 8-bit grayscale, boolean arrays 0/255; alpha is dropped.
    `sample` names the sample in error messages.
    """
    where = f"{sample}: " if sample else ""
    if isinstance(image, Image.Image):
        if image.mode in GRAYSCALE_MODES:
            return np.asarray(image.convert("L"))
        return np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{where}expected a PIL image or a numpy array, got {type(image).__name__}")
    array = image
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        raise ValueError(f"{where}expected a uint8 image array of shape (H, W) or (H, W, C), got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    if array.ndim not in (2, 3):
        raise ValueError(f"{where}expected an image of shape (H, W) or (H, W, C), got {array.shape}")
    return array


def save_png(path: str | os.PathLike, image) -> None:
    """Write a uint8 (H, W) or RGB (H, W, 3) array, or a PIL image, as a PNG file, atomically."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_file_atomic(path, buffer.getvalue())
