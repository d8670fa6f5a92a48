"""The page_xml and alto builders: real ALTO pages, PAGE 2013/2019, ZIP exports, splits, bad input."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
import zipfile
from collections import defaultdict
from pathlib import Path

import cv2
import datasets
import numpy as np
import pytest
from support.pages import (
    ALTO_V2,
    PAGE_2013,
    PAGE_2019,
    drawn_lines,
    make_drawn_pages,
    real_page_as_page_xml,
    write_page_xml,
    zip_folder,
)

from data_builders import InvalidInputError, build
from data_builders.__main__ import run as cli_main
from stackmix_htr.page_formats import LINE_MARGIN, PageSource, find_page_image, page_id

REAL_PAGES = [
    "FRAN_0025_2674_L-0",
    "FRAN_0025_2674_L-1",
    "FRAN_0025_2745_L-0",
    "FRAN_0025_2745_L-1",
    "FRAN_0025_2863_L-0",
]


def load(out: Path, tmp_path: Path):
    return datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))


def rows(out: Path, tmp_path: Path) -> dict[str, tuple[str, dict]]:
    return {row["sample_id"]: (split, row) for split, data in load(out, tmp_path).items() for row in data}


def card(out: Path) -> str:
    return (out / "README.md").read_text(encoding="utf-8")


def alto_line_texts(xml_path: Path) -> dict[str, str]:
    """line id -> its Strings joined by spaces, read with the standard library."""
    namespace = "{http://www.loc.gov/standards/alto/ns-v4#}"
    root = ET.parse(xml_path).getroot()
    return {
        line.get("ID"): " ".join(string.get("CONTENT") for string in line.iter(f"{namespace}String"))
        for line in root.iter(f"{namespace}TextLine")
    }


# ---------------------------------------------------------------- the real ALTO sample


@pytest.fixture(scope="module")
def real_alto_build(real_alto_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("lectaurep") / "out"
    report = build("alto", real_alto_dir, out, skip_invalid=True, split=(0.6, 0.2, 0.2), seed=3, progress=False)
    return out, report


def test_real_alto_every_line_with_its_text(real_alto_build, real_alto_dir, tmp_path):
    out, report = real_alto_build
    built = rows(out, tmp_path)
    expected = {
        f"{stem}/{line_id}": text
        for stem in REAL_PAGES
        for line_id, text in alto_line_texts(real_alto_dir / f"{stem}.xml").items()
    }
    assert len(expected) == 1059
    empty = sorted(sample_id for sample_id, text in expected.items() if not text.strip())
    assert len(empty) == 4
    # Every line is in the dataset with the XML's text, except the four with empty text: skipped and counted.
    assert sorted(built) == sorted(set(expected) - set(empty))
    assert all(row["text"] == expected[sample_id] for sample_id, (_, row) in built.items())
    assert report.num_skipped == 4 and sum(report.counts.values()) == 1055
    listed = next(line for line in card(out).splitlines() if line.startswith("- empty transcription: 4 ("))
    assert sorted(listed[len("- empty transcription: 4 (") : -1].split(", ")) == empty


def test_real_alto_splits_are_by_page(real_alto_build, tmp_path):
    out, _ = real_alto_build
    splits_of_page = defaultdict(set)
    for split, row in rows(out, tmp_path).values():
        splits_of_page[row["page_id"]].add(split)
    assert sorted(splits_of_page) == REAL_PAGES
    assert all(len(splits) == 1 for splits in splits_of_page.values())
    pages_per_split = defaultdict(int)
    for (split,) in splits_of_page.values():
        pages_per_split[split] += 1
    assert dict(pages_per_split) == {"train": 3, "validation": 1, "test": 1}


def test_real_alto_lines_are_cut_by_their_polygons(real_alto_build, real_alto_dir, tmp_path):
    out, _ = real_alto_build
    built = rows(out, tmp_path)
    _, row = built["FRAN_0025_2674_L-0/eSc_line_5b9fff78"]
    assert (row["line_id"], row["region_id"]) == ("eSc_line_5b9fff78", "eSc_textblock_fd1013e2")
    assert row["polygon"][:3] == [[1262, 676], [1266, 621], [1280, 610]]
    assert row["baseline"] == [[1264, 678], [2033, 680]]
    polygon = np.asarray(row["polygon"])
    left, top = polygon.min(axis=0) - LINE_MARGIN
    right, bottom = polygon.max(axis=0) + LINE_MARGIN
    line = np.asarray(row["image"].convert("L"), dtype=np.int16)
    assert line.shape == (bottom - top, right - left)
    page = cv2.imread(str(real_alto_dir / "FRAN_0025_2674_L-0.jpg"), cv2.IMREAD_GRAYSCALE).astype(np.int16)
    # Inside the polygon: the page's pixels (up to the JPEG re-encoding); the corners lie outside
    # the polygon and hold one flat background colour.
    inside = page[700 - 5 : 700 + 5, 1400:1410] - line[700 - 5 - top : 700 + 5 - top, 1400 - left : 1410 - left]
    assert np.abs(inside).mean() < 6
    corners = [line[0, 0], line[0, -1], line[-1, 0], line[-1, -1]]
    assert max(corners) - min(corners) <= 6 and min(corners) > 150
    orders = sorted(r["reading_order"] for split, r in built.values() if r["page_id"] == "FRAN_0025_2674_L-0")
    assert orders == sorted(set(orders)) and orders[0] == 0


def test_real_alto_empty_lines_stop_the_build_naming_page_and_line(real_alto_dir, tmp_path):
    (tmp_path / "raw").mkdir()
    for suffix in (".xml", ".jpg"):
        shutil.copy(real_alto_dir / f"FRAN_0025_2674_L-0{suffix}", tmp_path / "raw")
    with pytest.raises(InvalidInputError) as error:
        build("alto", tmp_path / "raw", tmp_path / "out", progress=False)
    assert "empty transcription (1): FRAN_0025_2674_L-0/eSc_line_38522abe" in str(error.value)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- PAGE-XML 2013 and 2019, ZIP exports


@pytest.mark.parametrize("namespace", [PAGE_2013, PAGE_2019])
def test_page_xml_from_real_pages_matches_the_alto_build(namespace, real_alto_dir, tmp_path):
    stem = "FRAN_0025_2863_L-0"
    lines = real_page_as_page_xml(real_alto_dir, tmp_path / "raw", stem, namespace, max_lines=12)
    build("page_xml", tmp_path / "raw", tmp_path / "out", split=(1, 0, 0), progress=False)
    built = rows(tmp_path / "out", tmp_path)
    assert {sample_id: row["text"] for sample_id, (_, row) in built.items()} == {
        f"{stem}/{line.line_id}": line.text for line in lines
    }
    assert {split for split, _ in built.values()} == {"train"}
    # The same polygons on the same image give the same line images in both formats.
    alto_raw = tmp_path / "alto"
    alto_raw.mkdir()
    for suffix in (".xml", ".jpg"):
        shutil.copy(real_alto_dir / f"{stem}{suffix}", alto_raw)
    build("alto", alto_raw, tmp_path / "alto_out", split=(1, 0, 0), skip_invalid=True, progress=False)
    from_alto = rows(tmp_path / "alto_out", tmp_path)
    for sample_id, (_, row) in built.items():
        np.testing.assert_array_equal(np.asarray(row["image"]), np.asarray(from_alto[sample_id][1]["image"]))
        assert row["polygon"] == from_alto[sample_id][1]["polygon"]
        assert row["baseline"] == from_alto[sample_id][1]["baseline"]


def test_page_xml_reading_order_follows_the_reading_order_element(tmp_path):
    lines = drawn_lines()
    write_page_xml(tmp_path / "raw" / "p.xml", lines, "p.png", region_order=["r2", "r1"], transkribus_indices=True)
    make_drawn_pages(tmp_path / "unused", ["p"])  # the image only
    shutil.copy(tmp_path / "unused" / "p.png", tmp_path / "raw" / "p.png")
    build("page_xml", tmp_path / "raw", tmp_path / "out", split=(1, 0, 0), progress=False)
    order = {row["line_id"]: row["reading_order"] for _, row in rows(tmp_path / "out", tmp_path).values()}
    # r2 first; within r1 the Transkribus indices put r1l2 before r1l1.
    assert order == {"r2l1": 0, "r1l2": 1, "r1l1": 2}


def _transkribus_export(folder: Path) -> dict[str, list]:
    """Two documents with the same file names, XML in page/, plus METS and metadata files."""
    pages = {}
    for document in ("DocA", "DocB"):
        base = folder / "1234" / document
        for name, lines in make_drawn_pages(base, ["0001", "0002"], xml_folder="page", image_suffix=".jpg").items():
            pages[f"1234/{document}/{name}"] = lines
        (base / "mets.xml").write_text('<?xml version="1.0"?><mets xmlns="http://www.loc.gov/METS/"/>')
        (base / "metadata.xml").write_text('<?xml version="1.0"?><trpDocMetadata/>')
    return pages


def test_transkribus_zip_export(tmp_path):
    pages = _transkribus_export(tmp_path / "export")
    archive = zip_folder(tmp_path / "export", tmp_path / "export.zip")
    build("page_xml", archive, tmp_path / "out", split=(0.5, 0.25, 0.25), seed=1, progress=False)
    built = rows(tmp_path / "out", tmp_path)
    assert {sample_id: row["text"] for sample_id, (_, row) in built.items()} == {
        f"{page}/{line.line_id}": line.text for page, lines in pages.items() for line in lines
    }
    page_splits = {row["page_id"]: split for split, row in built.values()}
    assert sorted(page_splits.values()) == ["test", "train", "train", "validation"]
    assert "Left out, in no split: 4 (XML files that are not PAGE-XML pages" in card(tmp_path / "out")
    # The ZIP and the unpacked folder give the same dataset.
    build("page_xml", tmp_path / "export", tmp_path / "out_folder", split=(0.5, 0.25, 0.25), seed=1, progress=False)
    assert {key: (split, row["text"]) for key, (split, row) in rows(tmp_path / "out_folder", tmp_path).items()} == {
        key: (split, row["text"]) for key, (split, row) in built.items()
    }


def test_alto_v2_lines_without_polygons(tmp_path):
    pages = make_drawn_pages(tmp_path / "raw", ["a"], layout_format="alto", namespace=ALTO_V2, xml_folder="alto")
    build("alto", tmp_path / "raw", tmp_path / "out", split=(1, 0, 0), progress=False)
    built = rows(tmp_path / "out", tmp_path)
    for line in pages["a"]:
        _, row = built[f"a/{line.line_id}"]
        assert row["text"] == line.text + "-"  # the HYP joins the last word
        xs, ys = [x for x, _ in line.polygon], [y for _, y in line.polygon]
        # No polygon: the line's box; a single-value baseline runs across it.
        assert row["polygon"] == [[min(xs), min(ys)], [max(xs), min(ys)], [max(xs), max(ys)], [min(xs), max(ys)]]
        assert row["baseline"] == [[min(xs), line.baseline[0][1]], [max(xs), line.baseline[0][1]]]


def test_image_found_by_stem_when_the_xml_names_another_file(tmp_path):
    make_drawn_pages(tmp_path / "raw", ["p"], xml_folder="page")
    xml = tmp_path / "raw" / "page" / "p.xml"
    xml.write_text(xml.read_text().replace('imageFilename="p.png"', 'imageFilename="C:\\scans\\renamed.tif"'))
    build("page_xml", tmp_path / "raw", tmp_path / "out", split=(1, 0, 0), progress=False)
    assert len(rows(tmp_path / "out", tmp_path)) == 3


def test_image_lookup_stays_inside_the_source(tmp_path):
    (tmp_path / "outside.png").write_bytes(b"not to be read")
    make_drawn_pages(tmp_path / "raw", ["p"])
    with PageSource(tmp_path / "raw") as source:
        assert find_page_image(source, "q.xml", "../outside.png") is None
        assert find_page_image(source, "p.xml", "/etc/p.png") == "p.png"  # its base name, inside the source
        assert find_page_image(source, "p.xml", "P.PNG") == "p.png"


def test_page_ids():
    assert page_id("doc/page/0001.xml") == "doc/0001"
    assert page_id("0001.xml") == "0001"
    assert page_id("alto/b.tif") == "b"


# ---------------------------------------------------------------- splits


def test_split_lists_by_page_and_file_name(tmp_path):
    make_drawn_pages(tmp_path / "raw", ["p1", "p2", "p3", "p4"], xml_folder="page")
    lists = {}
    for split, entries in {"train": ["page/p1.xml", "p2"], "validation": ["p3.png"], "test": ["nowhere.xml"]}.items():
        lists[split] = tmp_path / f"{split}.txt"
        lists[split].write_text("\n".join(entries) + "\n")
    options = dict(
        train_list=[lists["train"]], validation_list=[lists["validation"]], test_list=[lists["test"]], progress=False
    )
    with pytest.raises(InvalidInputError, match=r"listed in a split list but no such page .*\(1\): nowhere.xml"):
        build("page_xml", tmp_path / "raw", tmp_path / "out", **options)
    build("page_xml", tmp_path / "raw", tmp_path / "out", skip_invalid=True, **options)
    page_splits = {row["page_id"]: split for split, row in rows(tmp_path / "out", tmp_path).values()}
    assert page_splits == {"p1": "train", "p2": "train", "p3": "validation"}
    assert "Left out, in no split: 1 (pages in none of the split lists" in card(tmp_path / "out")


def test_random_split_is_by_page_and_reproducible(tmp_path):
    make_drawn_pages(tmp_path / "raw", [f"p{index}" for index in range(6)])

    def page_splits(out: str, seed: int) -> dict:
        build("page_xml", tmp_path / "raw", tmp_path / out, split=(0.6, 0.2, 0.2), seed=seed, progress=False)
        result = defaultdict(set)
        for split, row in rows(tmp_path / out, tmp_path).values():
            result[row["page_id"]].add(split)
        return result

    first, again, other = page_splits("a", 5), page_splits("b", 5), page_splits("c", 6)
    assert first == again and all(len(splits) == 1 for splits in first.values())
    assert sorted(split for (split,) in first.values()) == ["test", "train", "train", "train", "train", "validation"]
    assert first != other


# ---------------------------------------------------------------- bad input


def _malformed_xml(raw: Path) -> None:
    (raw / "page" / "p2.xml").write_text(
        '<?xml version="1.0"?><PcGts xmlns="' + PAGE_2019 + '"><Page><TextRegion></Page>'
    )


def _missing_image(raw: Path) -> None:
    (raw / "p2.png").unlink()


def _wrong_image_size(raw: Path) -> None:
    cv2.imwrite(str(raw / "p2.png"), np.full((50, 60), 200, dtype=np.uint8))


def _empty_text(raw: Path) -> None:
    xml = raw / "page" / "p2.xml"
    xml.write_text(xml.read_text().replace("<Unicode>third p2</Unicode>", "<Unicode>  </Unicode>"))


def _polygon_outside(raw: Path) -> None:
    xml = raw / "page" / "p2.xml"
    xml.write_text(
        xml.read_text().replace('points="40,130 200,128 204,180 40,182"', 'points="500,300 600,300 600,350 500,350"')
    )


def _degenerate_polygon(raw: Path) -> None:
    xml = raw / "page" / "p2.xml"
    xml.write_text(xml.read_text().replace('points="40,130 200,128 204,180 40,182"', 'points="40,130 200,128"'))


@pytest.mark.parametrize(
    "corrupt, message, lines_left",
    [
        (_malformed_xml, "malformed XML (1): page/p2.xml (", 3),
        (_missing_image, "page image missing (1): page/p2.xml ('p2.png', nor an image named like the XML)", 3),
        (
            _wrong_image_size,
            "page image size differs from the XML (1): page/p2.xml (p2.png is 60x50 px, the XML says 420x200)",
            3,
        ),
        (_empty_text, "empty transcription (1): p2/r2l1", 5),
        (_polygon_outside, "line polygon outside the page (1): p2/r2l1", 5),
        (_degenerate_polygon, "line polygon has fewer than 3 points (1): p2/r2l1", 5),
    ],
)
def test_bad_input_is_named_or_skipped_and_counted(tmp_path, corrupt, message, lines_left):
    raw = tmp_path / "raw"
    make_drawn_pages(raw, ["p1", "p2"], xml_folder="page")
    corrupt(raw)
    with pytest.raises(InvalidInputError) as error:
        build("page_xml", raw, tmp_path / "out", split=(1, 0, 0), progress=False)
    assert message in str(error.value) and "--skip_invalid" in str(error.value)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["raw"]
    report = build("page_xml", raw, tmp_path / "out", split=(1, 0, 0), skip_invalid=True, progress=False)
    assert report.num_skipped == 1 and sum(report.counts.values()) == lines_left
    assert "Skipped invalid samples: 1" in card(tmp_path / "out")


def test_polygon_reaching_outside_is_cut_at_the_page_edge_and_counted(tmp_path):
    raw = tmp_path / "raw"
    make_drawn_pages(raw, ["p"])
    xml = raw / "p.xml"
    xml.write_text(
        xml.read_text().replace('points="20,70 380,72 378,110 20,108"', 'points="-30,70 450,72 448,110 -30,108"')
    )
    build("page_xml", raw, tmp_path / "out", split=(1, 0, 0), progress=False)
    _, row = rows(tmp_path / "out", tmp_path)["p/r1l2"]
    assert row["image"].width == 420  # the page's width: cut at both edges
    assert row["polygon"][0] == [-30, 70]  # the column keeps the XML's coordinates
    assert "Kept, changed: 1 (line polygons reaching outside the page, cut at its edge)" in card(tmp_path / "out")


def test_external_entities_are_never_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    raw = tmp_path / "raw"
    make_drawn_pages(raw, ["p", "q"])
    xml = raw / "p.xml"
    text = xml.read_text()
    doctype = f'<!DOCTYPE PcGts [<!ENTITY leak SYSTEM "file://{secret}">]>\n'
    text = text.replace("<!-- written by the test fixtures -->\n", doctype).replace(
        "<Unicode>third p</Unicode>", "<Unicode>&leak;third p</Unicode>"
    )
    xml.write_text(text)
    # The page is refused by name: its text cannot be known without reading outside the export.
    with pytest.raises(InvalidInputError, match=r"malformed XML \(1\): p\.xml \(Entity 'leak' not defined"):
        build("page_xml", raw, tmp_path / "out", split=(1, 0, 0), progress=False)
    build("page_xml", raw, tmp_path / "out", split=(1, 0, 0), skip_invalid=True, progress=False)
    texts = [row["text"] for _, row in rows(tmp_path / "out", tmp_path).values()]
    assert sorted(texts) == sorted(line.text + " q" for line in drawn_lines())
    assert not any("SECRET" in text or "&" in text for text in texts)


def test_entities_declared_in_the_file_are_expanded_in_the_texts(tmp_path):
    raw = tmp_path / "raw"
    make_drawn_pages(raw, ["p"])
    xml = raw / "p.xml"
    text = xml.read_text(encoding="utf-8").replace(
        "<!-- written by the test fixtures -->\n", '<!DOCTYPE PcGts [<!ENTITY ae "\u00e6">]>\n'
    )
    xml.write_text(text.replace("<Unicode>third p</Unicode>", "<Unicode>th&ae;rd p</Unicode>"), encoding="utf-8")
    build("page_xml", raw, tmp_path / "out", split=(1, 0, 0), progress=False)
    assert rows(tmp_path / "out", tmp_path)["p/r2l1"][1]["text"] == "th\u00e6rd p"  # never the reference "&ae;"


def test_zip_entries_with_absolute_names_or_dot_dot_are_left_out_and_counted(tmp_path):
    pages = make_drawn_pages(tmp_path / "export", ["a", "b"], xml_folder="page")
    archive = zip_folder(tmp_path / "export", tmp_path / "export.zip")
    with zipfile.ZipFile(archive, "a") as handle:
        # zipfile strips a leading "/" from names it is given as paths, but not from a ZipInfo's name.
        for name in ("/x/page/evil.xml", "/x/evil.png", "../up/page/evil.xml", "C:/scans/page/evil.xml"):
            source = tmp_path / "export" / ("page/a.xml" if name.endswith(".xml") else "a.png")
            handle.writestr(zipfile.ZipInfo(name), source.read_bytes())
    with PageSource(archive) as source:
        assert "/x/page/evil.xml" not in source.names() and len(source.unsafe_names) == 4
    build("page_xml", archive, tmp_path / "out", split=(1, 0, 0), progress=False)  # ends: no endless image lookup
    built = rows(tmp_path / "out", tmp_path)
    assert sorted(built) == sorted(f"{page}/{line.line_id}" for page, lines in pages.items() for line in lines)
    assert "archive entries with an absolute name, a drive letter or a '..' part, not read: " in card(tmp_path / "out")


def test_a_polygon_too_flat_for_writing_is_named_or_skipped(tmp_path):
    raw = tmp_path / "raw"
    make_drawn_pages(raw, ["p"])
    xml = raw / "p.xml"
    xml.write_text(
        xml.read_text().replace('points="40,130 200,128 204,180 40,182"', 'points="40,130 200,130 200,131 40,131"')
    )
    with pytest.raises(InvalidInputError, match=r"line polygon only 1 px tall \(at least 3 needed\) \(1\): p/r2l1"):
        build("page_xml", raw, tmp_path / "out", split=(1, 0, 0), progress=False)
    report = build("page_xml", raw, tmp_path / "out", split=(1, 0, 0), skip_invalid=True, progress=False)
    assert report.num_skipped == 1 and sum(report.counts.values()) == 2


def test_wrong_builder_and_not_a_zip(tmp_path, capsys):
    make_drawn_pages(tmp_path / "raw", ["p"], layout_format="alto")
    with pytest.raises(InvalidInputError, match="no PAGE-XML files in .*it holds ALTO files: use the alto builder"):
        build("page_xml", tmp_path / "raw", tmp_path / "out", progress=False)
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    base = ["--output_dir", str(tmp_path / "out"), "--no_progress"]
    assert cli_main(["page_xml", "--raw", str(tmp_path / "broken.zip"), *base]) == 2
    assert "is not a folder or ZIP archive" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["alto", "--raw", str(tmp_path / "raw"), "--split", "0.8,0.2", *base])
    assert exit_info.value.code == 2
    assert "expected three non-negative shares" in capsys.readouterr().err


def test_cli_builds_pages(tmp_path, capsys):
    make_drawn_pages(tmp_path / "raw", ["p1", "p2", "p3"], layout_format="alto", xml_folder="alto")
    args = [
        "alto",
        "--raw",
        str(tmp_path / "raw"),
        "--output_dir",
        str(tmp_path / "out"),
        "--split",
        "1,1,1",
        "--seed",
        "2",
        "--no_progress",
    ]
    assert cli_main(args) == 0
    assert "train 3, validation 3, test 3" in capsys.readouterr().out
    assert sorted(load(tmp_path / "out", tmp_path)) == ["test", "train", "validation"]
