"""What a PAGE-XML or ALTO file says about a page: its image, text regions and text lines."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stackmix_htr.common.errors import InputError

Points = list[tuple[float, float]]

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


class PageError(InputError, ValueError):
    """A page file that cannot be used; `problem` is a short label that groups pages in reports."""

    def __init__(self, problem: str, detail: str = ""):
        self.problem, self.detail = problem, detail
        super().__init__(f"{problem}: {detail}" if detail else problem)


@dataclass
class LineLayout:
    """One TextLine. `index` is its position among the page's TextLine elements in document order
    (how a line is found again when recognised text is written back); `reading_order` its rank in
    the page's reading order. Coordinates are page pixels."""

    index: int
    line_id: str
    region_id: str
    reading_order: int
    polygon: Points
    baseline: Points
    text: str


@dataclass
class RegionLayout:
    region_id: str
    polygon: Points


@dataclass
class PageLayout:
    format: str  # "page" or "alto"
    namespace: str
    image_filename: str
    width: int | None
    height: int | None
    lines: list[LineLayout] = field(default_factory=list)
    regions: list[RegionLayout] = field(default_factory=list)


def parse_points(text: str | None, what: str) -> Points:
    """ "x1,y1 x2,y2 ..." (PAGE) or "x1 y1 x2 y2 ..." (ALTO) -> [(x1, y1), (x2, y2), ...]."""
    numbers = [float(value) for value in _NUMBER.findall(text or "")]
    if len(numbers) % 2:
        raise PageError("malformed coordinates", f"{what} has an odd number of coordinates: {text!r}")
    return list(zip(numbers[0::2], numbers[1::2]))


def box_points(x: float, y: float, width: float, height: float) -> Points:
    return [(x, y), (x + width, y), (x + width, y + height), (x, y + height)]


def bounding_box(points: Points) -> tuple[float, float, float, float]:
    """(x, y, width, height) of the points."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
