"""Cutting text lines out of a page image by their polygons."""

from __future__ import annotations

import io
import math
import warnings

import cv2
import numpy as np
from PIL import Image

from .layout import PageError, Points

LINE_MARGIN = 4  # pixels of page kept around a line's polygon (outside it: background)
MIN_POLYGON_HEIGHT = 3  # pixels: a flatter polygon holds no legible writing (its cut would be all margin)
_BACKGROUND_SAMPLING = 8  # every 8th pixel in each direction is plenty for the median colour


def decode_page_image(data: bytes) -> tuple[np.ndarray, str]:
    """(pixels, format): uint8 (H, W) for grayscale and bilevel pages, (H, W, 3) otherwise.

    The pixel grid is the one stored in the file (no EXIF rotation), as page XML coordinates
    refer to it.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                image_format = (image.format or "png").lower()
                if image.mode.startswith("I"):
                    # 16-bit grayscale: PIL's own conversion would clip everything above 255.
                    values = np.asarray(image, dtype=np.float64)
                    pixels = np.clip((values / 257 if values.max() > 255 else values).round(), 0, 255).astype(np.uint8)
                else:
                    pixels = np.asarray(image.convert("L" if image.mode in ("1", "L", "LA") else "RGB"))
    except (
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as error:
        raise PageError("unreadable page image", str(error)) from error
    return pixels, image_format


def page_background(page: np.ndarray) -> np.ndarray:
    """The page's paper colour: the median of a regular sample of its pixels."""
    sample = page[::_BACKGROUND_SAMPLING, ::_BACKGROUND_SAMPLING].reshape(-1, *page.shape[2:])
    return np.median(sample, axis=0).astype(np.uint8)


def is_clipped(polygon: Points, width: int, height: int) -> bool:
    """Whether the polygon reaches outside the page (its edges at 0 and width/height are inside)."""
    return any(x < 0 or y < 0 or x > width or y > height for x, y in polygon)


def cut_line(page: np.ndarray, polygon: Points, background: np.ndarray) -> np.ndarray:
    """The line's bounding box plus LINE_MARGIN, within the page, with the pixels outside the
    polygon set to `background`. A polygon reaching outside the page is cut at its edge.

    Raises PageError when the polygon has fewer than 3 points, no area, is less than
    MIN_POLYGON_HEIGHT pixels tall or lies outside the page.
    """
    if len(polygon) < 3:
        raise PageError("line polygon has fewer than 3 points" if polygon else "line has no polygon")
    points = np.asarray(polygon, dtype=np.float64)
    if cv2.contourArea(points.astype(np.float32)) < 1.0:
        raise PageError("line polygon has no area")
    polygon_height = points[:, 1].max() - points[:, 1].min()
    if polygon_height < MIN_POLYGON_HEIGHT:
        raise PageError(f"line polygon only {polygon_height:g} px tall (at least {MIN_POLYGON_HEIGHT} needed)")
    height, width = page.shape[:2]
    left = max(0, math.floor(points[:, 0].min()) - LINE_MARGIN)
    top = max(0, math.floor(points[:, 1].min()) - LINE_MARGIN)
    right = min(width, math.ceil(points[:, 0].max()) + LINE_MARGIN)
    bottom = min(height, math.ceil(points[:, 1].max()) + LINE_MARGIN)
    if right <= left or bottom <= top:
        raise PageError("line polygon outside the page")
    mask = np.zeros((bottom - top, right - left), dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(points - (left, top)).astype(np.int32)], 1)
    if not mask.any():
        raise PageError("line polygon outside the page")
    line = page[top:bottom, left:right].copy()
    line[mask == 0] = background
    return line


def encode_line(line: np.ndarray, page_format: str) -> bytes:
    """JPEG (quality 95) for lines of JPEG pages, which are lossy already; PNG otherwise."""
    buffer = io.BytesIO()
    if page_format in ("jpeg", "jpg"):
        Image.fromarray(line).save(buffer, format="JPEG", quality=95)
    else:
        Image.fromarray(line).save(buffer, format="PNG")
    return buffer.getvalue()
