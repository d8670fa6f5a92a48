"""Line-image helpers shared by the bank and the generator: layout, ink, vertical centring."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from ..image_arrays import GRAYSCALE_MODES


def to_gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def match_layout(image: np.ndarray, like) -> np.ndarray:
    """Give `image` the channel layout (grayscale or RGB) of `like` (PIL image or array)."""
    if isinstance(like, Image.Image):
        wants_rgb = like.mode not in GRAYSCALE_MODES
    else:
        like = np.asarray(like)
        wants_rgb = like.ndim == 3 and like.shape[2] >= 3
    if wants_rgb and image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if not wants_rgb and image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return image


def ink_mask(gray: np.ndarray, dark_ink: bool = True) -> np.ndarray:
    """Boolean (H, W) mask of ink pixels by Otsu's threshold (ink = the dark side when `dark_ink`).

    A uniform image has no ink.
    """
    mode = cv2.THRESH_BINARY_INV if dark_ink else cv2.THRESH_BINARY
    # maxval 1 gives a 0/1 uint8 mask that is viewed as bool without a copy.
    _, mask = cv2.threshold(np.ascontiguousarray(gray), 0, 1, mode + cv2.THRESH_OTSU)
    if cv2.countNonZero(mask) == mask.size:
        mask[:] = 0
    return mask.view(bool)


def has_light_background(gray: np.ndarray) -> bool:
    """Handwriting covers a minority of a line image, so the median pixel is background."""
    return float(np.median(gray)) >= 128


def ink_centre_row(gray: np.ndarray, dark_ink: bool = True) -> float:
    """Mean row of the ink pixels (the line's vertical centre of mass); the middle row when blank."""
    rows = ink_mask(gray, dark_ink).sum(axis=1)
    total = rows.sum()
    if total == 0:
        return (gray.shape[0] - 1) / 2
    return float((rows * np.arange(gray.shape[0])).sum() / total)


def normalize_line_height(image: np.ndarray, height: int, background: int, dark_ink: bool) -> tuple[np.ndarray, float]:
    """Fit a line into `height` rows with its ink centre on the middle row.

    Taller lines are shrunk (aspect kept); the line is then shifted vertically so its ink
    centre of mass lands on row height // 2 and padded with `background`. Centring the whole
    line (not each slice) keeps every slice of that line on a common baseline, and lines of
    different writers meet at the same height when slices are stacked.
    Returns (image with `height` rows, horizontal scale applied).
    """
    scale = 1.0
    if image.shape[0] > height:
        scale = height / image.shape[0]
        width = max(1, round(image.shape[1] * scale))
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    centre = ink_centre_row(to_gray(image), dark_ink)
    shift = int(round(height // 2 - centre))
    canvas = np.full((height,) + image.shape[1:], background, dtype=np.uint8)
    source_top, target_top = max(0, -shift), max(0, shift)
    rows = min(image.shape[0] - source_top, height - target_top)
    if rows > 0:
        canvas[target_top : target_top + rows] = image[source_top : source_top + rows]
    return canvas, scale
