"""ALTO (Library of Congress; versions 2 to 4, as eScriptorium and kraken write it), in pixels.

Lines: `TextLine/Shape/Polygon@POINTS`, or the line's HPOS/VPOS/WIDTH/HEIGHT box when it has no
polygon; `@BASELINE` as points (ALTO 4) or as one y value (older files: a horizontal baseline
across the box); text from the line's Strings joined by spaces (a HYP's hyphen joins its word).
Reading order: document order.
"""

from __future__ import annotations

import re

from lxml import etree

from .layout import LineLayout, PageError, PageLayout, Points, RegionLayout, bounding_box, box_points, parse_points

_NAMESPACE = re.compile(r"^http://www\.loc\.gov/standards/alto/ns-v[234]#$")
OUTPUT_NAMESPACE = "http://www.loc.gov/standards/alto/ns-v4#"
_SCHEMA_LOCATION = f"{OUTPUT_NAMESPACE} http://www.loc.gov/standards/alto/v4/alto-4-2.xsd"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
# String attributes that describe the old text (character confidences, hyphenation substitutes).
_TEXT_ATTRIBUTES = ("CC", "SUBS_CONTENT", "SUBS_TYPE")


def is_namespace(namespace: str) -> bool:
    return bool(_NAMESPACE.match(namespace))


def _tag(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def _float(element, name: str) -> float | None:
    value = element.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        raise PageError("malformed coordinates", f"{name}={value!r} of {element.get('ID', 'an element')}") from None


def _box(element) -> Points:
    values = [_float(element, name) for name in ("HPOS", "VPOS", "WIDTH", "HEIGHT")]
    return box_points(*values) if None not in values else []


def _shape(element, namespace: str, what: str) -> Points:
    polygon = element.find(f"{_tag(namespace, 'Shape')}/{_tag(namespace, 'Polygon')}")
    if polygon is not None and polygon.get("POINTS"):
        return parse_points(polygon.get("POINTS"), what)
    return _box(element)


def _baseline(line, what: str) -> Points:
    value = line.get("BASELINE")
    if not value:
        return []
    points = parse_points(value, what) if len(value.split()) > 1 or "," in value else []
    if points:
        return points
    y, x, width = _float(line, "BASELINE"), _float(line, "HPOS"), _float(line, "WIDTH")
    return [(x, y), (x + width, y)] if None not in (x, width) else []


def _line_text(line, namespace: str) -> str:
    text = ""
    for child in line:
        local = etree.QName(child).localname if isinstance(child.tag, str) else ""
        if local == "String":
            text += (" " if text else "") + child.get("CONTENT", "")
        elif local == "HYP":
            text += child.get("CONTENT", "-")
    return text.strip()


def _page(root, namespace: str):
    unit = root.find(f"{_tag(namespace, 'Description')}/{_tag(namespace, 'MeasurementUnit')}")
    if unit is not None and (unit.text or "").strip() not in ("", "pixel"):
        raise PageError("ALTO measurement unit is not pixel", f"MeasurementUnit {unit.text.strip()!r}")
    page = root.find(f"{_tag(namespace, 'Layout')}/{_tag(namespace, 'Page')}")
    if page is None:
        raise PageError("no Layout/Page element")
    return page


def _lines(root, namespace: str) -> list:
    return list(root.find(_tag(namespace, "Layout")).iter(_tag(namespace, "TextLine")))


def read_layout(root) -> PageLayout:
    namespace = etree.QName(root).namespace
    page = _page(root, namespace)
    file_name = root.find(
        f"{_tag(namespace, 'Description')}/{_tag(namespace, 'sourceImageInformation')}/{_tag(namespace, 'fileName')}"
    )
    width, height = _float(page, "WIDTH"), _float(page, "HEIGHT")
    layout = PageLayout(
        format="alto",
        namespace=namespace,
        image_filename=(file_name.text or "").strip() if file_name is not None else "",
        width=round(width) if width else None,
        height=round(height) if height else None,
    )
    block_tag = _tag(namespace, "TextBlock")
    for block in page.iter(block_tag):
        block_id = block.get("ID", "")
        layout.regions.append(RegionLayout(block_id, _shape(block, namespace, f"block {block_id}")))
    for index, line in enumerate(_lines(root, namespace)):
        line_id = line.get("ID") or f"line_{index}"
        block = next(line.iterancestors(block_tag), None)
        layout.lines.append(
            LineLayout(
                index=index,
                line_id=line_id,
                region_id=block.get("ID", "") if block is not None else "",
                reading_order=index,
                polygon=_shape(line, namespace, f"line {line_id}"),
                baseline=_baseline(line, f"baseline of line {line_id}"),
                text=_line_text(line, namespace),
            )
        )
    return layout


def _set_box(element, points: Points) -> None:
    x, y, width, height = bounding_box(points)
    for name, value in (("HPOS", x), ("VPOS", y), ("WIDTH", width), ("HEIGHT", height)):
        element.set(name, str(round(value)))


def write_recognised(root, results: dict[int, tuple[str, float]]) -> None:
    """Each listed line's text becomes the CONTENT of one String, with the confidence as WC.

    A line with one String keeps it, with all its attributes. Several words become one String
    (the first, stretched over the line's box): the recognizer gives no word boundaries.
    """
    namespace = etree.QName(root).namespace
    string_tag, shape_tag = _tag(namespace, "String"), _tag(namespace, "Shape")
    word_tags = {string_tag, _tag(namespace, "SP"), _tag(namespace, "HYP")}
    lines = _lines(root, namespace)
    for index, (text, confidence) in results.items():
        line = lines[index]
        words = [child for child in line if child.tag in word_tags]
        strings = [child for child in words if child.tag == string_tag]
        if strings:
            string = strings[0]
        else:
            string = etree.SubElement(line, string_tag)
            shape = line.find(shape_tag)
            line.insert(line.index(shape) + 1 if shape is not None else 0, string)
            _set_box(string, _box(line) or _shape(line, namespace, "line"))
        if len(words) > 1:
            _set_box(string, _box(line) or _shape(line, namespace, "line"))
            for child in string.findall(shape_tag):
                string.remove(child)
        for word in words:
            if word is not string:
                line.remove(word)
        for child in [child for child in string if child.tag != shape_tag]:
            string.remove(child)  # Glyphs and ALTERNATIVEs: the old text
        for name in _TEXT_ATTRIBUTES:
            string.attrib.pop(name, None)
        string.set("CONTENT", text)
        string.set("WC", f"{confidence:.4f}")


def _points_attribute(points: Points) -> str:
    return " ".join(f"{round(x)} {round(y)}" for x, y in points)


def build(layout: PageLayout, results: dict[int, tuple[str, float]]):
    """An ALTO 4 document with the regions and lines of `layout` and the recognised texts."""

    def tag(local: str) -> str:
        return _tag(OUTPUT_NAMESPACE, local)

    root = etree.Element(tag("alto"), nsmap={None: OUTPUT_NAMESPACE, "xsi": _XSI})
    root.set(f"{{{_XSI}}}schemaLocation", _SCHEMA_LOCATION)
    description = etree.SubElement(root, tag("Description"))
    etree.SubElement(description, tag("MeasurementUnit")).text = "pixel"
    source = etree.SubElement(description, tag("sourceImageInformation"))
    etree.SubElement(source, tag("fileName")).text = layout.image_filename
    page = etree.SubElement(etree.SubElement(root, tag("Layout")), tag("Page"), ID="page_0", PHYSICAL_IMG_NR="1")
    all_points = [point for line in layout.lines for point in line.polygon] or [(0, 0)]
    _, _, right, bottom = bounding_box([(0, 0)] + all_points)
    page.set("WIDTH", str(layout.width or round(right)))
    page.set("HEIGHT", str(layout.height or round(bottom)))
    print_space = etree.SubElement(page, tag("PrintSpace"))
    _set_box(print_space, [(0, 0), (float(page.get("WIDTH")), float(page.get("HEIGHT")))])
    lines = sorted(layout.lines, key=lambda line: line.reading_order)
    region_polygons = {region.region_id: region.polygon for region in layout.regions}
    for block_number, region_id in enumerate(dict.fromkeys(line.region_id for line in lines)):
        members = [line for line in lines if line.region_id == region_id]
        block = etree.SubElement(print_space, tag("TextBlock"), ID=region_id or f"block_{block_number}")
        polygon = region_polygons.get(region_id) or []
        if len(polygon) < 3:
            polygon = box_points(*bounding_box([point for line in members for point in line.polygon] or [(0, 0)]))
        _set_box(block, polygon)
        etree.SubElement(etree.SubElement(block, tag("Shape")), tag("Polygon"), POINTS=_points_attribute(polygon))
        for line in members:
            element = etree.SubElement(block, tag("TextLine"), ID=line.line_id)
            if line.polygon:
                _set_box(element, line.polygon)
            if line.baseline:
                element.set("BASELINE", _points_attribute(line.baseline))
            if line.polygon:
                etree.SubElement(
                    etree.SubElement(element, tag("Shape")), tag("Polygon"), POINTS=_points_attribute(line.polygon)
                )
            text, confidence = results.get(line.index, (line.text, None))
            string = etree.SubElement(element, tag("String"), CONTENT=text)
            if line.polygon:
                _set_box(string, line.polygon)
            if confidence is not None:
                string.set("WC", f"{confidence:.4f}")
    return root
