"""Any dataset prepared in the common layout: image files plus marking.csv.

marking.csv columns: sample_id, path (image file, relative to the csv's folder), stage
(train / valid / test; "validation" and "val" are accepted too), text. Further columns (e.g.
writer) become string metadata columns. RAW_DIR is the folder holding marking.csv (or use --csv).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Iterator

from .records import (
    Invalid,
    Record,
    SourceInfo,
    SourceItem,
    iter_csv_rows,
    require_file,
    stage_to_split,
)

INFO = SourceInfo(
    name="marking_csv",
    pretty_name="Handwritten text lines (marking.csv)",
    text_rules="none",
    homepage="",
    license="other",
    license_terms="as given by the data's owner",
    description="Text-line images with transcriptions prepared in the common marking.csv layout.",
    citation="",
)

REQUIRED_COLUMNS = ("sample_id", "path", "stage", "text")


def _csv_path(raw_dir: Path, csv_file: Path | None) -> Path:
    return require_file(Path(csv_file) if csv_file else raw_dir / "marking.csv", "marking.csv")


def source_info(raw_dir: Path, csv_file: Path | None = None, text_rules: str = "none", **_) -> SourceInfo:
    """INFO with this file's extra columns as metadata and the user's text-rules profile."""
    header = next(iter_csv_rows(_csv_path(raw_dir, csv_file), REQUIRED_COLUMNS), {})
    extra = tuple(column for column in header if column is not None and column not in REQUIRED_COLUMNS)
    return dataclasses.replace(INFO, metadata_columns=extra, text_rules=text_rules)


def iter_records(raw_dir: Path, csv_file: Path | None = None, text_rules: str = "none") -> Iterator[SourceItem]:
    path = _csv_path(raw_dir, csv_file)
    for row in iter_csv_rows(path, REQUIRED_COLUMNS):
        sample_id = row["sample_id"].strip()
        split = stage_to_split(row["stage"] or "")
        if split is None:
            yield Invalid(sample_id, "unknown stage", repr(row["stage"]))
            continue
        metadata = {key: value for key, value in row.items() if key is not None and key not in REQUIRED_COLUMNS}
        yield Record(sample_id, split, row["text"] or "", path.parent / row["path"].strip(), metadata)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--csv", dest="csv_file", type=Path, help="the marking file (default RAW_DIR/marking.csv)")
    parser.add_argument(
        "--text_rules", default="none", help="text-rules profile to record in the card (none, iam, bentham, ...)"
    )
