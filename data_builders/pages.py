"""The page builder, registered twice: `page_xml` (PAGE-XML: Transkribus, OCR-D, eScriptorium; 2013 and
2019 schemas) and `alto` (ALTO versions 2 to 4, pixel units: eScriptorium, kraken). Text lines of
page images with their ground truth become dataset records.

    python -m data_builders page_xml --raw export.zip --output_dir data/mine --split 0.8,0.1,0.1 --seed 0
    python -m data_builders alto --raw escriptorium_export/ --output_dir data/mine --train_list train.txt ...

RAW is a folder or a ZIP export: page images with their XML beside them or in `page/` / `alto/`
subfolders, in any number of nested document folders. Each XML names its image (PAGE
`imageFilename`, ALTO `fileName`); failing that, the image with the XML's stem and a usual
extension is used. Each text line is cut out by its polygon (its bounding box plus a small
margin, pixels outside the polygon set to the page's paper colour).

Splits are by page, so the lines of one page never land in two splits: from split lists
(`--train_list` ...; one page per row, as its page id, its XML or image file name) or at random
(`--split 0.8,0.1,0.1 --seed S`, the default). Columns besides `sample_id` ("<page id>/<line id>"),
`image` and `text`: `page_id` (the XML's path without suffix and page/alto folder), `line_id`,
`region_id`, `reading_order` (the line's rank in its page's reading order), `polygon` and
`baseline` (page pixel coordinates, lists of [x, y]).

Bad input: a malformed XML, a missing or unreadable page image or one whose size differs from the
XML's, a line with empty text or without a usable polygon stop the build with the file and line
named (or, with --skip_invalid, are left out and counted in the card). A polygon reaching
outside the page is cut at the page's edge and counted in the card.
"""

from __future__ import annotations

import argparse
import dataclasses
import posixpath
import zipfile
from pathlib import Path
from typing import Iterator

import datasets
import numpy as np

from stackmix_htr.page_formats import (
    FORMAT_NAMES,
    PageError,
    PageFile,
    PageSource,
    cut_lines,
    encode_line,
    find_pages,
    load_page,
    page_id,
)

from .records import (
    SPLITS,
    Excluded,
    Invalid,
    InvalidInputError,
    Note,
    Record,
    SourceInfo,
    SourceItem,
    split_lists_to_map,
)

COLUMNS = ("page_id", "line_id", "region_id", "reading_order", "polygon", "baseline")
POINTS_FEATURE = datasets.List(datasets.List(datasets.Value("int32"), length=2))
FEATURES = {"reading_order": datasets.Value("int32"), "polygon": POINTS_FEATURE, "baseline": POINTS_FEATURE}
DEFAULT_SPLIT = (0.8, 0.1, 0.1)
BUILDER_OF_FORMAT = {"page": "page_xml", "alto": "alto"}


def page_source_info(name: str, file_format: str) -> SourceInfo:
    kind = FORMAT_NAMES[file_format]
    return SourceInfo(
        name=name,
        pretty_name=f"Handwritten text lines ({kind})",
        text_rules="none",
        homepage="",
        license="other",
        license_terms="as given by the data's owner",
        description=(
            f"Text lines cut out of page images by the line polygons of their {kind} ground truth, "
            "with page-level splits. `text` is the line's transcription as the XML gives it."
        ),
        citation="",
        metadata_columns=COLUMNS,
        metadata_features=FEATURES,
        accepts_zip=True,
    )


def split_ratio(value: str) -> tuple[float, float, float]:
    """ "0.8,0.1,0.1" -> (0.8, 0.1, 0.1): train, validation and test shares."""
    try:
        ratio = tuple(float(part) for part in value.split(","))
    except ValueError:
        ratio = ()
    if len(ratio) != 3 or min(ratio) < 0 or sum(ratio) <= 0:
        raise argparse.ArgumentTypeError(f"expected three non-negative shares like 0.8,0.1,0.1, got {value!r}")
    return ratio


def random_page_splits(page_ids: list[str], ratio: tuple[float, float, float], seed: int) -> dict[str, str]:
    """Page id -> split. Pages are shuffled by `seed`; split sizes follow `ratio` (largest
    remainders), and each split with a non-zero share gets a page while there are enough pages."""
    shares = np.asarray(ratio, dtype=float) / sum(ratio)
    exact = shares * len(page_ids)
    sizes = np.floor(exact).astype(int)
    for index in np.argsort(-(exact - sizes), kind="stable")[: len(page_ids) - sizes.sum()]:
        sizes[index] += 1
    for index in np.flatnonzero((shares > 0) & (sizes == 0)):
        donor = int(np.argmax(sizes))
        if sizes[donor] > 1:
            sizes[donor] -= 1
            sizes[index] += 1
    order = np.random.default_rng(seed).permutation(len(page_ids))
    ordered = sorted(page_ids)
    bounds = np.cumsum(sizes)
    return {
        ordered[index]: SPLITS[int(np.searchsorted(bounds, position, side="right"))]
        for position, index in enumerate(order)
    }


def listed_page_splits(pages: list[PageFile], lists: dict[str, list[Path]]) -> tuple[dict[str, str], list[str]]:
    """(page id -> split, entries that name no page) from split list files.

    An entry names a page by its page id, or by its XML or image file name (with or without
    folders); a bare file name matches when only one page has it.
    """
    ids = {page.page_id for page in pages}
    by_name: dict[str, list[str]] = {}
    for page in pages:
        by_name.setdefault(posixpath.basename(page.page_id), []).append(page.page_id)
    splits, unknown = {}, []
    for entry, split in split_lists_to_map(lists).items():
        key = page_id(posixpath.normpath(entry.replace("\\", "/")))
        matches = [key] if key in ids else by_name.get(key, [])
        if len(matches) == 1:
            splits[matches[0]] = split
        else:
            unknown.append(entry)
    return splits, unknown


def iter_page_records(
    raw_dir: Path,
    file_format: str,
    split: tuple[float, float, float] | None = None,
    seed: int = 0,
    train_list: list[Path] | None = None,
    validation_list: list[Path] | None = None,
    test_list: list[Path] | None = None,
) -> Iterator[SourceItem]:
    lists = {"train": train_list, "validation": validation_list, "test": test_list}
    if any(lists.values()) and split is not None:
        raise InvalidInputError("give either split lists (--train_list ...) or --split, not both")
    try:
        source = PageSource(raw_dir)
    except zipfile.BadZipFile as error:
        raise InvalidInputError(f"{raw_dir} is not a readable ZIP archive ({error})") from error
    with source:
        found, other_xml, unreadable = find_pages(source)
        pages = [page for page in found if page.format == file_format]
        other_xml += [page.xml_name for page in found if page.format != file_format]
        if not pages and not unreadable:
            others = sorted({page.format for page in found} - {file_format})
            hint = "".join(
                f"; it holds {FORMAT_NAMES[kind]} files: use the {BUILDER_OF_FORMAT[kind]} builder" for kind in others
            )
            if source.unsafe_names:
                hint += (
                    f"; {len(source.unsafe_names)} entries with an absolute name, a drive letter or '..' were not read"
                )
            raise InvalidInputError(f"no {FORMAT_NAMES[file_format]} files in {raw_dir}{hint}")
        for name, error in unreadable:
            yield Invalid(f"{name} ({error.detail})", error.problem)

        if any(lists.values()):
            missing = [name for name, paths in lists.items() if not paths]
            if missing:
                raise InvalidInputError(f"split lists given for some splits but not for {missing}")
            split_of, unknown = listed_page_splits(
                pages, {name: [Path(path) for path in paths] for name, paths in lists.items()}
            )
            for entry in unknown:
                yield Invalid(entry, "listed in a split list but no such page (or several pages of that name)")
        else:
            split_of = random_page_splits([page.page_id for page in pages], split or DEFAULT_SPLIT, seed)

        not_in_split, clipped = 0, 0
        for page_file in pages:
            page_split = split_of.get(page_file.page_id)
            if page_split is None:
                not_in_split += 1
                continue
            try:
                page = load_page(source, page_file)
            except PageError as error:
                yield Invalid(
                    f"{page_file.xml_name} ({error.detail})" if error.detail else page_file.xml_name, error.problem
                )
                continue
            for cut in cut_lines(page):
                line = cut.layout
                sample_id = f"{page_file.page_id}/{line.line_id}"
                if not line.text:
                    yield Invalid(sample_id, "empty transcription")
                    continue
                if cut.problem is not None:
                    yield Invalid(sample_id, cut.problem.problem)
                    continue
                clipped += cut.clipped
                metadata = {
                    "page_id": page_file.page_id,
                    "line_id": line.line_id,
                    "region_id": line.region_id,
                    "reading_order": line.reading_order,
                    "polygon": [[round(x), round(y)] for x, y in line.polygon],
                    "baseline": [[round(x), round(y)] for x, y in line.baseline],
                }
                yield Record(sample_id, page_split, line.text, encode_line(cut.pixels, page.image_format), metadata)
        unsafe = source.unsafe_names
    if unsafe:
        shown = ", ".join(unsafe[:3]) + (", ..." if len(unsafe) > 3 else "")
        yield Excluded(
            len(unsafe), f"archive entries with an absolute name, a drive letter or a '..' part, not read: {shown}"
        )
    if not_in_split:
        yield Excluded(not_in_split, "pages in none of the split lists (counted in pages)")
    if other_xml:
        shown = ", ".join(other_xml[:3]) + (", ..." if len(other_xml) > 3 else "")
        yield Excluded(
            len(other_xml), f"XML files that are not {FORMAT_NAMES[file_format]} pages, counted in files: {shown}"
        )
    if clipped:
        yield Note(clipped, "line polygons reaching outside the page, cut at its edge")


def add_page_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--split",
        type=split_ratio,
        default=None,
        metavar="TRAIN,VALID,TEST",
        help=f"random page-level split with these shares (default {','.join(map(str, DEFAULT_SPLIT))})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random page-level split")
    parser.add_argument("--train_list", type=Path, nargs="+", help="file(s) listing the train pages, one per row")
    parser.add_argument("--validation_list", type=Path, nargs="+", help="file(s) listing the validation pages")
    parser.add_argument("--test_list", type=Path, nargs="+", help="file(s) listing the test pages")
    parser.add_argument(
        "--text_rules", default="none", help="text-rules profile to record in the card (none, iam, bentham, ...)"
    )


class PageBuilder:
    """A builder of line datasets from pages of one format; `name` is how `python -m data_builders` calls it."""

    add_arguments = staticmethod(add_page_arguments)

    def __init__(self, name: str, file_format: str, summary: str):
        self.file_format = file_format
        self.INFO = page_source_info(name, file_format)
        folder = "page/" if file_format == "page" else "alto/"
        self.__doc__ = (
            f"{summary}\n\nRAW is the export folder or ZIP: page images with their XML beside them or in a "
            f"`{folder}` subfolder. See `data_builders.pages` for splits, columns and bad input."
        )

    def source_info(self, raw_dir: Path, text_rules: str = "none", **_) -> SourceInfo:
        return dataclasses.replace(self.INFO, text_rules=text_rules)

    def iter_records(self, raw_dir: Path, text_rules: str = "none", **options) -> Iterator[SourceItem]:
        return iter_page_records(raw_dir, self.file_format, **options)


PAGE_XML = PageBuilder(
    "page_xml",
    "page",
    "Page images with PAGE-XML line ground truth (Transkribus, OCR-D, eScriptorium; 2013 and 2019 schemas).",
)
ALTO = PageBuilder(
    "alto", "alto", "Page images with ALTO line ground truth (eScriptorium, kraken; ALTO versions 2 to 4, pixel units)."
)
