"""Page fixtures: small drawn pages with PAGE-XML (2013, 2019) or ALTO (v2, v4), real ALTO pages
converted to PAGE, Transkribus-style ZIP exports. Written with the standard library's
ElementTree, independently of the code under test."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

PAGE_2013 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15"
PAGE_2019 = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
ALTO_V2 = "http://www.loc.gov/standards/alto/ns-v2#"
ALTO_V4 = "http://www.loc.gov/standards/alto/ns-v4#"

PAGE_WIDTH, PAGE_HEIGHT = 420, 200


@dataclass
class Line:
    line_id: str
    region_id: str
    polygon: list[tuple[int, int]]
    baseline: list[tuple[int, int]]
    text: str


def drawn_lines() -> list[Line]:
    """Three lines in two regions of a PAGE_WIDTH x PAGE_HEIGHT page; the second region comes first
    in reading order."""
    return [
        Line("r1l1", "r1", [(20, 20), (300, 18), (302, 60), (22, 62)], [(22, 55), (300, 53)], "first line"),
        Line(
            "r1l2", "r1", [(20, 70), (380, 72), (378, 110), (20, 108)], [(22, 104), (376, 106)], "second, longer line"
        ),
        Line("r2l1", "r2", [(40, 130), (200, 128), (204, 180), (40, 182)], [(42, 174), (200, 172)], "third"),
    ]


def draw_page(
    path: Path, lines: list[Line], seed: int = 0, width: int = PAGE_WIDTH, height: int = PAGE_HEIGHT
) -> np.ndarray:
    """Light paper with dark strokes inside every line's polygon; saved in the suffix's format."""
    rng = np.random.default_rng(seed)
    page = np.full((height, width), 225, dtype=np.uint8) + rng.integers(0, 20, (height, width), dtype=np.uint8)
    for line in lines:
        xs = [x for x, _ in line.polygon]
        ys = [y for _, y in line.polygon]
        for column in range(max(0, min(xs)) + 4, min(width, max(xs)) - 4, 7):
            top = int(rng.integers(max(0, min(ys)) + 3, max(min(ys) + 4, (min(ys) + max(ys)) // 2)))
            bottom = min(height, max(ys)) - 3
            page[top:bottom, column : column + 2] = int(rng.integers(10, 60))
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), page)
    return page


def _points(points) -> str:
    return " ".join(f"{x},{y}" for x, y in points)


def write_page_xml(
    path: Path,
    lines: list[Line],
    image_filename: str,
    namespace: str = PAGE_2019,
    width: int = PAGE_WIDTH,
    height: int = PAGE_HEIGHT,
    region_order: list[str] | None = None,
    transkribus_indices: bool = False,
) -> None:
    """A PAGE file with regions, lines, baselines and line texts, plus elements and attributes a
    transcription must keep: metadata, a region text, words, TextStyle, custom attributes, a comment."""
    ET.register_namespace("", namespace)
    q = lambda local: f"{{{namespace}}}{local}"  # noqa: E731
    root = ET.Element(q("PcGts"), {"pcGtsId": "fixture"})
    metadata = ET.SubElement(root, q("Metadata"))
    ET.SubElement(metadata, q("Creator")).text = "fixture"
    ET.SubElement(metadata, q("Created")).text = "2024-01-01T00:00:00"
    ET.SubElement(metadata, q("LastChange")).text = "2024-01-01T00:00:00"
    page = ET.SubElement(
        root, q("Page"), {"imageFilename": image_filename, "imageWidth": str(width), "imageHeight": str(height)}
    )
    region_ids = list(dict.fromkeys(line.region_id for line in lines))
    order = region_order or region_ids
    group = ET.SubElement(ET.SubElement(page, q("ReadingOrder")), q("OrderedGroup"), {"id": "ro1"})
    for index, region_id in enumerate(order):
        ET.SubElement(group, q("RegionRefIndexed"), {"index": str(index), "regionRef": region_id})
    for region_index, region_id in enumerate(region_ids):
        members = [line for line in lines if line.region_id == region_id]
        region = ET.SubElement(
            page,
            q("TextRegion"),
            {"id": region_id, "type": "paragraph", "custom": f"readingOrder {{index:{region_index};}}"},
        )
        xs = [x for line in members for x, _ in line.polygon]
        ys = [y for line in members for _, y in line.polygon]
        ET.SubElement(
            region,
            q("Coords"),
            {"points": _points([(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys))])},
        )
        for index, line in enumerate(members):
            attributes = {"id": line.line_id}
            if transkribus_indices:
                attributes["custom"] = f"readingOrder {{index:{len(members) - 1 - index};}}"
            element = ET.SubElement(region, q("TextLine"), attributes)
            ET.SubElement(element, q("Coords"), {"points": _points(line.polygon)})
            ET.SubElement(element, q("Baseline"), {"points": _points(line.baseline)})
            for number, word_text in enumerate(line.text.split()[:1]):
                word = ET.SubElement(element, q("Word"), {"id": f"{line.line_id}w{number}"})
                ET.SubElement(word, q("Coords"), {"points": _points(line.polygon)})
                ET.SubElement(ET.SubElement(word, q("TextEquiv")), q("Unicode")).text = word_text
            equiv = ET.SubElement(element, q("TextEquiv"), {"conf": "1.0"})
            ET.SubElement(equiv, q("Unicode")).text = line.text
            ET.SubElement(element, q("TextStyle"), {"fontSize": "12"})
        region_text = "\n".join(line.text for line in members)
        ET.SubElement(ET.SubElement(region, q("TextEquiv")), q("Unicode")).text = region_text
    tree = ET.ElementTree(root)
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- written by the test fixtures -->\n')
        tree.write(handle, encoding="utf-8", xml_declaration=False)


def write_alto(
    path: Path,
    lines: list[Line],
    image_filename: str,
    namespace: str = ALTO_V4,
    width: int = PAGE_WIDTH,
    height: int = PAGE_HEIGHT,
) -> None:
    """ALTO v4 (line polygons, point baselines, one String per word with SP between) or, for
    ALTO_V2, the older style: no polygons (the line box), one y as baseline, a hyphen (HYP) ending
    each line."""
    ET.register_namespace("", namespace)
    q = lambda local: f"{{{namespace}}}{local}"  # noqa: E731
    root = ET.Element(q("alto"))
    description = ET.SubElement(root, q("Description"))
    ET.SubElement(description, q("MeasurementUnit")).text = "pixel"
    ET.SubElement(ET.SubElement(description, q("sourceImageInformation")), q("fileName")).text = image_filename
    ET.SubElement(ET.SubElement(root, q("Styles")), q("TextStyle"), {"ID": "font0", "FONTSIZE": "12"})
    page = ET.SubElement(
        ET.SubElement(root, q("Layout")),
        q("Page"),
        {"ID": "p1", "WIDTH": str(width), "HEIGHT": str(height), "PHYSICAL_IMG_NR": "1"},
    )
    space = ET.SubElement(page, q("PrintSpace"), {"HPOS": "0", "VPOS": "0", "WIDTH": str(width), "HEIGHT": str(height)})
    for region_id in dict.fromkeys(line.region_id for line in lines):
        block = ET.SubElement(space, q("TextBlock"), {"ID": region_id, "STYLEREFS": "font0"})
        for line in [line for line in lines if line.region_id == region_id]:
            xs = [x for x, _ in line.polygon]
            ys = [y for _, y in line.polygon]
            box = {
                "HPOS": str(min(xs)),
                "VPOS": str(min(ys)),
                "WIDTH": str(max(xs) - min(xs)),
                "HEIGHT": str(max(ys) - min(ys)),
            }
            if namespace == ALTO_V2:
                element = ET.SubElement(
                    block, q("TextLine"), {"ID": line.line_id, "BASELINE": str(line.baseline[0][1]), **box}
                )
            else:
                baseline = " ".join(f"{x} {y}" for x, y in line.baseline)
                element = ET.SubElement(block, q("TextLine"), {"ID": line.line_id, "BASELINE": baseline, **box})
                polygon = " ".join(f"{x} {y}" for x, y in line.polygon)
                ET.SubElement(ET.SubElement(element, q("Shape")), q("Polygon"), {"POINTS": polygon})
            words = line.text.split(" ")
            for number, word in enumerate(words):
                if number:
                    ET.SubElement(element, q("SP"))
                string = ET.SubElement(
                    element,
                    q("String"),
                    {"ID": f"{line.line_id}s{number}", "CONTENT": word, "WC": "0.99", "CC": "9" * len(word)},
                )
                ET.SubElement(string, q("Glyph"), {"CONTENT": word[:1]})
            if namespace == ALTO_V2:
                ET.SubElement(element, q("HYP"), {"CONTENT": "-"})
    tree = ET.ElementTree(root)
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="UTF-8", xml_declaration=True)


def make_drawn_pages(
    folder: Path,
    names: list[str],
    layout_format: str = "page",
    namespace: str | None = None,
    xml_folder: str = "",
    image_suffix: str = ".png",
) -> dict[str, list[Line]]:
    """Pages `names` with images in `folder` and their XML in `folder/xml_folder`; returns name -> lines.
    Each page's lines get texts of their own."""
    pages = {}
    for seed, name in enumerate(names):
        lines = [
            Line(line.line_id, line.region_id, line.polygon, line.baseline, f"{line.text} {name}")
            for line in drawn_lines()
        ]
        draw_page(folder / f"{name}{image_suffix}", lines, seed=seed)
        xml = folder / xml_folder / f"{name}.xml"
        if layout_format == "page":
            write_page_xml(xml, lines, f"{name}{image_suffix}", namespace=namespace or PAGE_2019)
        else:
            write_alto(xml, lines, f"{name}{image_suffix}", namespace=namespace or ALTO_V4)
        pages[name] = lines
    return pages


def real_alto_lines(xml_path: Path, max_lines: int | None = None) -> tuple[str, int, int, list[Line]]:
    """(image file name, width, height, lines) of a real eScriptorium ALTO page, lines with a polygon."""
    namespace = {"a": ALTO_V4}
    root = ET.parse(xml_path).getroot()
    image = root.find("a:Description/a:sourceImageInformation/a:fileName", namespace).text.strip()
    page = root.find("a:Layout/a:Page", namespace)
    lines = []
    for block in page.iter(f"{{{ALTO_V4}}}TextBlock"):
        for line in block.findall("a:TextLine", namespace):
            polygon = line.find("a:Shape/a:Polygon", namespace)
            if polygon is None:
                continue
            values = [int(float(value)) for value in polygon.get("POINTS").split()]
            base = [int(float(value)) for value in line.get("BASELINE").split()]
            text = " ".join(string.get("CONTENT", "") for string in line.findall("a:String", namespace))
            lines.append(
                Line(
                    line.get("ID"),
                    block.get("ID"),
                    list(zip(values[0::2], values[1::2])),
                    list(zip(base[0::2], base[1::2])),
                    text,
                )
            )
    return image, int(page.get("WIDTH")), int(page.get("HEIGHT")), lines[:max_lines]


def real_page_as_page_xml(
    alto_dir: Path, folder: Path, stem: str, namespace: str, max_lines: int | None = None
) -> list[Line]:
    """The real ALTO page `alto_dir/stem.xml` converted to PAGE (`namespace`): the image copied to
    `folder`, the XML in `folder/page/` as Transkribus exports it; returns its lines."""
    image, width, height, lines = real_alto_lines(alto_dir / f"{stem}.xml", max_lines)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(alto_dir / image, folder / image)
    write_page_xml(folder / "page" / f"{stem}.xml", lines, image, namespace=namespace, width=width, height=height)
    return lines


def zip_folder(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                handle.write(path, prefix + path.relative_to(folder).as_posix())
    return archive
