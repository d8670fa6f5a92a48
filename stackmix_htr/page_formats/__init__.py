"""Page images with their PAGE-XML or ALTO layout: reading, cutting lines out, writing text back."""

from .crop import LINE_MARGIN, cut_line, decode_page_image, encode_line
from .files import IMAGE_SUFFIXES, PageFile, PageSource, find_page_image, find_pages, page_id
from .formats import FORMAT_NAMES, convert, read_layout, write_recognised
from .layout import LineLayout, PageError, PageLayout, RegionLayout
from .pages import CutLine, LoadedPage, cut_lines, load_page

__all__ = [
    "FORMAT_NAMES",
    "IMAGE_SUFFIXES",
    "LINE_MARGIN",
    "CutLine",
    "LineLayout",
    "LoadedPage",
    "PageError",
    "PageFile",
    "PageLayout",
    "PageSource",
    "RegionLayout",
    "convert",
    "cut_line",
    "cut_lines",
    "decode_page_image",
    "encode_line",
    "find_page_image",
    "find_pages",
    "load_page",
    "page_id",
    "read_layout",
    "write_recognised",
]
