"""PAGE-XML (PRImA; 2010 to 2019 schemas, as Transkribus, OCR-D and eScriptorium write it).

Lines: `TextLine/Coords@points` (or the 2010 schema's `Point` children), `Baseline@points`, text
from the line's own `TextEquiv/Unicode` (the lowest `@index` when there are several; the words'
texts joined by spaces when the line has none). Reading order: regions in the order of
`ReadingOrder` (regions it does not name follow in document order), lines within a region by
Transkribus' `custom="readingOrder {index:N;}"` when every line has one, else in document order.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from lxml import etree

from .layout import LineLayout, PageError, PageLayout, Points, RegionLayout, bounding_box, box_points, parse_points

NAMESPACE_PREFIX = "http://schema.primaresearch.org/PAGE/gts/pagecontent/"
OUTPUT_NAMESPACE = NAMESPACE_PREFIX + "2019-07-15"
_CUSTOM_INDEX = re.compile(r"readingOrder\s*\{[^}]*index:\s*(\d+)")
# TextLine children that the schema places after TextEquiv.
_AFTER_TEXT_EQUIV = ("TextStyle", "UserDefined", "Labels")


def is_namespace(namespace: str) -> bool:
    return namespace.startswith(NAMESPACE_PREFIX)


class _Names:
    """Qualified tag names in one document's namespace."""

    def __init__(self, namespace: str):
        self.namespace = namespace

    def __getattr__(self, local: str) -> str:
        return f"{{{self.namespace}}}{local}"


def _children(element, tag: str) -> list:
    return [child for child in element if child.tag == tag]


def _coords(element, names: _Names, what: str) -> Points:
    coords = element.find(names.Coords)
    if coords is None:
        return []
    if coords.get("points") is not None:
        return parse_points(coords.get("points"), what)
    return [(float(point.get("x")), float(point.get("y"))) for point in coords.findall(names.Point)]


def _text_equiv_text(element, names: _Names) -> str | None:
    equivs = _children(element, names.TextEquiv)
    if not equivs:
        return None
    chosen = min(equivs, key=lambda equiv: int(equiv.get("index", 0)))
    unicode = chosen.find(names.Unicode)
    return "".join(unicode.itertext()).strip() if unicode is not None else ""


def _line_text(line, names: _Names) -> str:
    text = _text_equiv_text(line, names)
    if text is not None:
        return text
    words = (_text_equiv_text(word, names) for word in _children(line, names.Word))
    return " ".join(word for word in words if word)


def _region_order(page, names: _Names) -> dict[str, int]:
    """Region id -> rank in the page's ReadingOrder (nested groups flattened)."""
    order: list[str] = []

    def visit(group) -> None:
        members = [child for child in group if isinstance(child.tag, str)]
        if etree.QName(group).localname.startswith("OrderedGroup"):
            members.sort(key=lambda member: int(member.get("index", 0)))
        for member in members:
            if member.get("regionRef"):
                order.append(member.get("regionRef"))
            if etree.QName(member).localname.endswith(("Group", "GroupIndexed")):
                visit(member)

    reading_order = page.find(names.ReadingOrder)
    if reading_order is not None:
        for group in reading_order:
            if isinstance(group.tag, str):
                if group.get("regionRef"):
                    order.append(group.get("regionRef"))
                visit(group)
    return {region_id: rank for rank, region_id in enumerate(dict.fromkeys(order))}


def _page(root, names: _Names):
    page = root.find(names.Page)
    if page is None:
        raise PageError("no Page element")
    return page


def _custom_index(element) -> int | None:
    match = _CUSTOM_INDEX.search(element.get("custom", ""))
    return int(match.group(1)) if match else None


def _nearest_region(line, names: _Names):
    return next(line.iterancestors(names.TextRegion), None)


def _lines_in_reading_order(page, names: _Names) -> list:
    """The page's TextLine elements in reading order."""
    lines = list(page.iter(names.TextLine))
    region_rank = _region_order(page, names)
    document_rank = {region: position for position, region in enumerate(page.iter(names.TextRegion))}
    custom = [_custom_index(line) for line in lines]
    use_custom = all(index is not None for index in custom)

    def key(position: int):
        region = _nearest_region(lines[position], names)
        region_id = region.get("id") if region is not None else None
        listed = region_rank.get(region_id)
        region_key = (0, listed) if listed is not None else (1, document_rank.get(region, -1))
        return region_key, custom[position] if use_custom else 0, position

    return [lines[position] for position in sorted(range(len(lines)), key=key)]


def read_layout(root) -> PageLayout:
    names = _Names(etree.QName(root).namespace)
    page = _page(root, names)
    width, height = page.get("imageWidth"), page.get("imageHeight")
    layout = PageLayout(
        format="page",
        namespace=names.namespace,
        image_filename=page.get("imageFilename", ""),
        width=int(float(width)) if width else None,
        height=int(float(height)) if height else None,
    )
    for region in page.iter(names.TextRegion):
        region_id = region.get("id", "")
        layout.regions.append(RegionLayout(region_id, _coords(region, names, f"region {region_id}")))
    all_lines = list(page.iter(names.TextLine))
    rank = {line: position for position, line in enumerate(_lines_in_reading_order(page, names))}
    for index, line in enumerate(all_lines):
        line_id = line.get("id") or f"line_{index}"
        region = _nearest_region(line, names)
        baseline = line.find(names.Baseline)
        layout.lines.append(
            LineLayout(
                index=index,
                line_id=line_id,
                region_id=region.get("id", "") if region is not None else "",
                reading_order=rank[line],
                polygon=_coords(line, names, f"line {line_id}"),
                baseline=parse_points(baseline.get("points"), f"baseline of line {line_id}")
                if baseline is not None
                else [],
                text=_line_text(line, names),
            )
        )
    return layout


def _text_equiv(parent, names: _Names, text: str, confidence: float | None):
    """A new TextEquiv (made inside `parent`, so it shares the document's namespace prefix)."""
    equiv = etree.SubElement(parent, names.TextEquiv)
    if confidence is not None:
        equiv.set("conf", f"{confidence:.4f}")
    etree.SubElement(equiv, names.Unicode).text = text
    return equiv


def _replace_text_equivs(element, names: _Names, text: str, confidence: float | None) -> None:
    """Put one TextEquiv where the element's own TextEquivs were (or where the schema wants it)."""
    old = _children(element, names.TextEquiv)
    later = [child for child in element if etree.QName(child).localname in _AFTER_TEXT_EQUIV]
    anchor = old[0] if old else (later[0] if later else None)
    position = element.index(anchor) if anchor is not None else len(element)
    tail = old[0].tail if old else (element[position - 1].tail if position else element.text)
    for equiv in old:
        element.remove(equiv)
    equiv = _text_equiv(element, names, text, confidence)
    element.insert(position, equiv)
    equiv.tail = tail


def write_recognised(root, results: dict[int, tuple[str, float]]) -> None:
    """Recognised text and confidence as each listed line's TextEquiv; a region that had a text of
    its own gets its lines' new texts, one per row, in reading order."""
    names = _Names(etree.QName(root).namespace)
    page = _page(root, names)
    lines = list(page.iter(names.TextLine))
    for index, (text, confidence) in results.items():
        _replace_text_equivs(lines[index], names, text, confidence)
    # Elements as keys (not id()): lxml keeps one proxy per node only while it is referenced.
    position = {line: index for index, line in enumerate(lines)}
    changed_regions = {_nearest_region(lines[index], names) for index in results}
    ordered = _lines_in_reading_order(page, names)
    for region in page.iter(names.TextRegion):
        if region not in changed_regions or not _children(region, names.TextEquiv):
            continue
        texts = []
        for line in ordered:
            if _nearest_region(line, names) == region:
                texts.append(results.get(position[line], (_line_text(line, names), None))[0])
        _replace_text_equivs(region, names, "\n".join(texts), None)


def _points_attribute(points: Points) -> str:
    return " ".join(f"{round(x)},{round(y)}" for x, y in points)


def build(layout: PageLayout, results: dict[int, tuple[str, float]]):
    """A PAGE 2019 document with the regions and lines of `layout` and the recognised texts."""
    names = _Names(OUTPUT_NAMESPACE)
    root = etree.Element(names.PcGts, nsmap={None: OUTPUT_NAMESPACE})
    metadata = etree.SubElement(root, names.Metadata)
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    etree.SubElement(metadata, names.Creator).text = "stackmix-htr"
    etree.SubElement(metadata, names.Created).text = now
    etree.SubElement(metadata, names.LastChange).text = now
    page = etree.SubElement(root, names.Page, imageFilename=layout.image_filename)
    if layout.width and layout.height:
        page.set("imageWidth", str(layout.width))
        page.set("imageHeight", str(layout.height))
    lines = sorted(layout.lines, key=lambda line: line.reading_order)
    region_ids = list(dict.fromkeys(line.region_id for line in lines))
    region_polygons = {region.region_id: region.polygon for region in layout.regions}
    if region_ids:
        group = etree.SubElement(etree.SubElement(page, names.ReadingOrder), names.OrderedGroup, id="reading_order")
        for rank, region_id in enumerate(region_ids):
            etree.SubElement(group, names.RegionRefIndexed, index=str(rank), regionRef=region_id or "region_0")
    for region_id in region_ids:
        region = etree.SubElement(page, names.TextRegion, id=region_id or "region_0")
        members = [line for line in lines if line.region_id == region_id]
        polygon = region_polygons.get(region_id) or []
        if len(polygon) < 3:
            polygon = box_points(*bounding_box([point for line in members for point in line.polygon] or [(0, 0)]))
        etree.SubElement(region, names.Coords, points=_points_attribute(polygon))
        for line in members:
            element = etree.SubElement(region, names.TextLine, id=line.line_id)
            etree.SubElement(element, names.Coords, points=_points_attribute(line.polygon))
            if line.baseline:
                etree.SubElement(element, names.Baseline, points=_points_attribute(line.baseline))
            text, confidence = results.get(line.index, (line.text, None))
            _text_equiv(element, names, text, confidence)
    return root
