"""Reading and writing PAGE-XML and ALTO files safely, whichever of the two a file is.

The parser expands only the entities a file declares itself (`<!ENTITY ae "æ">`, within libxml2's
amplification limit), loads no DTD and reaches no network: page files come from outside. Files are
edited with lxml, which keeps the document type declaration, namespace prefixes, comments,
processing instructions and every element and attribute it is not asked to change.
"""

from __future__ import annotations

import io

from lxml import etree

from . import alto, page_xml
from .layout import PageError, PageLayout

FORMATS = {"page": page_xml, "alto": alto}
FORMAT_NAMES = {"page": "PAGE-XML", "alto": "ALTO"}
SNIFF_CHUNK = 8192


def _parser_options() -> dict:
    return dict(resolve_entities="internal", load_dtd=False, no_network=True, huge_tree=False)


def format_of_namespace(namespace: str) -> str | None:
    for name, module in FORMATS.items():
        if module.is_namespace(namespace):
            return name
    return None


def sniff_format(stream: io.BufferedIOBase) -> str | None:
    """ "page", "alto" or None (another kind of XML) from the root element, reading only the file's
    head; raises PageError("malformed XML") when not even the root element parses."""
    parser = etree.XMLPullParser(events=("start",), **_parser_options())
    try:
        while chunk := stream.read(SNIFF_CHUNK):
            parser.feed(chunk)
            for _, element in parser.read_events():
                return format_of_namespace(etree.QName(element).namespace or "")
        parser.close()
    except etree.XMLSyntaxError as error:
        raise PageError("malformed XML", str(error)) from error
    raise PageError("malformed XML", "no root element")


def parse_tree(data: bytes) -> etree._ElementTree:
    try:
        # A parsed document (not a root element) keeps its DOCTYPE, so declarations survive a rewrite.
        return etree.parse(io.BytesIO(data), etree.XMLParser(**_parser_options()))
    except etree.XMLSyntaxError as error:
        raise PageError("malformed XML", str(error)) from error


def _format_of_tree(tree: etree._ElementTree) -> str:
    namespace = etree.QName(tree.getroot()).namespace or ""
    kind = format_of_namespace(namespace)
    if kind is None:
        raise PageError("not a PAGE-XML or ALTO file", f"root element {tree.getroot().tag}")
    return kind


def read_layout(data: bytes) -> PageLayout:
    """The layout of a PAGE-XML or ALTO file given as bytes."""
    tree = parse_tree(data)
    return FORMATS[_format_of_tree(tree)].read_layout(tree.getroot())


def serialize(tree: etree._ElementTree) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def write_recognised(data: bytes, results: dict[int, tuple[str, float]]) -> bytes:
    """A copy of the file `data` with recognised text and confidence in the lines of `results`
    (line index in document order -> (text, confidence in [0, 1])); nothing else changes."""
    tree = parse_tree(data)
    FORMATS[_format_of_tree(tree)].write_recognised(tree.getroot(), results)
    return serialize(tree)


def convert(layout: PageLayout, results: dict[int, tuple[str, float]], target: str) -> bytes:
    """A new `target` file ("page" or "alto") with the regions and lines of `layout` and the
    recognised text of `results`."""
    return serialize(etree.ElementTree(FORMATS[target].build(layout, results)))
