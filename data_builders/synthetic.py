"""Synthetic handwriting-like text lines: the default dataset, rendered offline, no download needed.

Lines are word windows from a small bundled English text (plus occasional numbers), drawn
glyph by glyph with Pillow's built-in scalable font and jittered spacing/baseline, then
distorted like handwriting: slant (shear), a sine baseline wave plus a smooth elastic warp,
stroke width (erosion/dilation), ink and paper tones, blur and noise. Each of `num_writers`
pseudo-writers has fixed style parameters, recorded in the `writer` column.

Every line is generated from its own seed (seed, index), so a build is reproducible from
`--seed` whatever `--num_workers` is.
"""

from __future__ import annotations

import argparse
import multiprocessing
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterator

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .records import SPLITS, Record, SourceInfo, SourceItem

INFO = SourceInfo(
    name="synthetic",
    pretty_name="Synthetic handwriting-like lines",
    text_rules="none",
    homepage="",
    license="apache-2.0",
    language=("en",),
    metadata_columns=("writer",),
    needs_raw=False,
    description=(
        "Grayscale text-line images rendered offline from a small bundled English text with Pillow's "
        "built-in font and handwriting-like distortions (slant, baseline wave, elastic warp, stroke "
        "width, blur, noise). Black ink on light paper; for smoke tests and quick training runs."
    ),
    citation="",
)

DEFAULT_NUM_LINES = 3000
DEFAULT_SPLIT_RATIO = (0.8, 0.1, 0.1)
DEFAULT_IMAGE_HEIGHT = 64
DEFAULT_NUM_WRITERS = 20
JPEG_QUALITY = 90


@dataclass(frozen=True)
class WriterStyle:
    font_size: int
    slant: float  # horizontal shear per pixel of height (positive leans right)
    stroke: int  # > 0 thickens strokes (erosion of the white background), < 0 thins them
    spacing_jitter: float  # relative jitter of each glyph's advance
    baseline_jitter: float  # pixels of vertical jitter per glyph
    wave_amplitude: float  # pixels of the sine baseline wave
    wave_length: float  # pixels
    ink: int  # gray level of the ink


def writer_style(seed: int, writer: int) -> WriterStyle:
    rng = np.random.default_rng([seed, 1, writer])
    return WriterStyle(
        font_size=int(rng.integers(30, 46)),
        slant=float(rng.uniform(-0.15, 0.45)),
        stroke=int(rng.choice([-1, 0, 0, 1, 1, 2])),
        spacing_jitter=float(rng.uniform(0.0, 0.12)),
        baseline_jitter=float(rng.uniform(0.0, 2.5)),
        wave_amplitude=float(rng.uniform(0.0, 4.0)),
        wave_length=float(rng.uniform(150, 500)),
        ink=int(rng.integers(0, 70)),
    )


@lru_cache(maxsize=1)
def corpus_words() -> tuple[str, ...]:
    text = resources.files("data_builders").joinpath("synthetic_corpus.txt").read_text(encoding="utf-8")
    return tuple(text.split())


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def line_text(rng: np.random.Generator) -> str:
    """A window of 3-8 consecutive corpus words, sometimes with a number put in."""
    words = corpus_words()
    length = int(rng.integers(3, 9))
    start = int(rng.integers(0, len(words) - length))
    chosen = list(words[start : start + length])
    if rng.random() < 0.15:
        chosen.insert(int(rng.integers(0, length + 1)), str(int(rng.integers(0, 2000))))
    if rng.random() < 0.3:
        chosen[0] = chosen[0][:1].upper() + chosen[0][1:]
    return " ".join(chosen)


def _draw_glyphs(text: str, style: WriterStyle, rng: np.random.Generator) -> np.ndarray:
    """Draw glyph by glyph with jittered advance and baseline; (H, W) uint8, white background."""
    font = _font(style.font_size)
    advances = [font.getlength(char) * (1.0 + rng.uniform(-1, 1) * style.spacing_jitter) for char in text]
    pad = style.font_size
    width = int(sum(advances)) + 2 * pad
    height = 2 * style.font_size + 2 * pad
    canvas = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(canvas)
    x = float(pad)
    for char, advance in zip(text, advances):
        y = pad + style.font_size / 2 + rng.normal(0, style.baseline_jitter)
        draw.text((x, y), char, font=font, fill=0)
        x += advance
    return np.asarray(canvas).copy()


def _warp(image: np.ndarray, style: WriterStyle, rng: np.random.Generator) -> np.ndarray:
    """Slant, sine baseline wave and smooth elastic displacement in one remap."""
    height, width = image.shape
    slant = style.slant + rng.normal(0, 0.04)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi)
    elastic = rng.normal(0, 1, size=(2, height // 8 + 2, width // 8 + 2)).astype(np.float32)
    dx, dy = (cv2.resize(cv2.GaussianBlur(field, (0, 0), 1.5), (width, height)) * 6.0 for field in elastic)
    map_x = xs + slant * (ys - height / 2) + dx
    map_y = ys + style.wave_amplitude * np.sin(2 * np.pi * xs / style.wave_length + phase) + dy
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255)


def render_line(text: str, style: WriterStyle, rng: np.random.Generator, image_height: int) -> np.ndarray:
    """Render `text` in `style`; (image_height, W) uint8, dark ink on light paper."""
    image = _draw_glyphs(text, style, rng)
    if style.stroke:
        kernel = np.ones((abs(style.stroke) + 1, abs(style.stroke) + 1), np.uint8)
        image = cv2.erode(image, kernel) if style.stroke > 0 else cv2.dilate(image, kernel)
    image = _warp(image, style, rng)
    rows, cols = np.nonzero(image < 160)
    margin = int(rng.integers(3, 10))
    top, bottom = max(rows.min() - margin, 0), rows.max() + margin + 1
    left, right = max(cols.min() - margin, 0), cols.max() + margin + 1
    image = image[top:bottom, left:right]
    scale = image_height / image.shape[0]
    image = cv2.resize(image, (max(1, round(image.shape[1] * scale)), image_height), interpolation=cv2.INTER_AREA)
    # Ink coverage in [0, 1] mapped onto paper and ink tones, then scanner-like blur and noise.
    coverage = 1.0 - image.astype(np.float32) / 255.0
    paper = rng.uniform(215, 252)
    image = paper - coverage * (paper - style.ink)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 0.9))
    image += rng.normal(0, rng.uniform(1, 7), size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_line(seed: int, index: int, image_height: int, num_writers: int) -> tuple[str, str, bytes]:
    """(text, writer id, JPEG bytes) of line `index`; depends only on its arguments."""
    rng = np.random.default_rng([seed, 0, index])
    writer = int(rng.integers(num_writers))
    text = line_text(rng)
    image = render_line(text, writer_style(seed, writer), rng, image_height)
    # JPEG like most scanned collections; the noise makes PNG files several times larger.
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for synthetic line {index}")
    return text, f"synthetic-{writer:02d}", encoded.tobytes()


def _make_line_star(arguments: tuple) -> tuple[str, str, bytes]:
    return make_line(*arguments)


def split_of_lines(num_lines: int, split_ratio: tuple[float, float, float], seed: int) -> list[str]:
    """Split name of every line index: shuffled by seed, sized by the ratio."""
    ratio = np.asarray(split_ratio, dtype=float)
    if ratio.shape != (3,) or (ratio < 0).any() or ratio.sum() <= 0:
        raise ValueError(f"split_ratio must be three non-negative numbers (train validation test), got {split_ratio}")
    bounds = np.round(np.cumsum(ratio / ratio.sum()) * num_lines).astype(int)
    order = np.random.default_rng([seed, 2]).permutation(num_lines)
    splits = [""] * num_lines
    for position, index in enumerate(order):
        splits[index] = SPLITS[int(np.searchsorted(bounds, position, side="right"))]
    return splits


def iter_records(
    num_lines: int = DEFAULT_NUM_LINES,
    seed: int = 0,
    split_ratio: tuple[float, float, float] = DEFAULT_SPLIT_RATIO,
    image_height: int = DEFAULT_IMAGE_HEIGHT,
    num_writers: int = DEFAULT_NUM_WRITERS,
    num_workers: int = 1,
) -> Iterator[SourceItem]:
    if num_lines < 1 or image_height < 8 or num_writers < 1:
        raise ValueError("num_lines and num_writers must be >= 1 and image_height >= 8")
    splits = split_of_lines(num_lines, tuple(split_ratio), seed)
    jobs = [(seed, index, image_height, num_writers) for index in range(num_lines)]
    if num_workers > 1:
        with multiprocessing.get_context("spawn").Pool(num_workers) as pool:
            yield from _records(pool.imap(_make_line_star, jobs, chunksize=16), splits)
    else:
        yield from _records(map(_make_line_star, jobs), splits)


def _records(lines, splits: list[str]) -> Iterator[Record]:
    for index, (text, writer, jpeg) in enumerate(lines):
        yield Record(f"synthetic-{index:06d}", splits[index], text, jpeg, {"writer": writer})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num_lines", type=int, default=DEFAULT_NUM_LINES, help="number of lines to render")
    parser.add_argument("--seed", type=int, default=0, help="the build is a function of this seed")
    parser.add_argument(
        "--split_ratio",
        type=float,
        nargs=3,
        default=DEFAULT_SPLIT_RATIO,
        metavar=("TRAIN", "VALID", "TEST"),
        help="relative sizes of train/validation/test",
    )
    parser.add_argument("--image_height", type=int, default=DEFAULT_IMAGE_HEIGHT, help="line image height in px")
    parser.add_argument("--num_writers", type=int, default=DEFAULT_NUM_WRITERS, help="number of pseudo-writer styles")
    parser.add_argument("--num_workers", type=int, default=1, help="rendering processes (output does not depend on it)")
