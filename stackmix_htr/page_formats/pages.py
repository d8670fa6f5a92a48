"""One page ready to use: its XML read, its image found and decoded, its lines cut out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .crop import cut_line, decode_page_image, is_clipped, page_background
from .files import PageFile, PageSource, find_page_image
from .formats import FORMAT_NAMES, read_layout
from .layout import LineLayout, PageError, PageLayout


@dataclass
class LoadedPage:
    file: PageFile
    xml: bytes
    layout: PageLayout
    image_name: str
    pixels: np.ndarray
    image_format: str


@dataclass
class CutLine:
    """A line of a page: its pixels, or the reason it could not be cut out (`problem`)."""

    layout: LineLayout
    pixels: np.ndarray | None
    clipped: bool = False
    problem: PageError | None = None


def load_page(source: PageSource, page_file: PageFile) -> LoadedPage:
    """Read the XML and decode its image; raises PageError naming what is wrong."""
    xml = source.read(page_file.xml_name)
    layout = read_layout(xml)
    if layout.format != page_file.format:
        raise PageError(f"not a {FORMAT_NAMES[page_file.format]} file", f"it is {FORMAT_NAMES[layout.format]}")
    image_name = find_page_image(source, page_file.xml_name, layout.image_filename)
    if image_name is None:
        named = f"{layout.image_filename!r}" if layout.image_filename else "no image file name in the XML"
        raise PageError("page image missing", f"{named}, nor an image named like the XML")
    pixels, image_format = decode_page_image(source.read(image_name))
    height, width = pixels.shape[:2]
    if layout.width and layout.height and (layout.width, layout.height) != (width, height):
        raise PageError(
            "page image size differs from the XML",
            f"{image_name} is {width}x{height} px, the XML says {layout.width}x{layout.height}",
        )
    return LoadedPage(page_file, xml, layout, image_name, pixels, image_format)


def cut_lines(page: LoadedPage) -> Iterator[CutLine]:
    """Every TextLine of the page in document order, cut out by its polygon."""
    background = page_background(page.pixels)
    height, width = page.pixels.shape[:2]
    for line in page.layout.lines:
        try:
            pixels = cut_line(page.pixels, line.polygon, background)
        except PageError as error:
            yield CutLine(line, None, problem=error)
            continue
        yield CutLine(line, pixels, clipped=is_clipped(line.polygon, width, height))
