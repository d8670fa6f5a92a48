"""IAM Handwriting Database, text lines (modern English, many writers).

Raw layout (the official download):
    ascii/lines.txt     "#" comment lines, then rows
                        "<line id> <ok|err> <graylevel> <#components> <x> <y> <w> <h> <words joined by |>"
    ascii/forms.txt     optional; "<form id> <writer id> ..." gives the `writer` column
    lines/<a01>/<a01-000u>/<line id>.png

Splits: by default the official writer-independent line task ("IAM-D") from trainset.txt,
validationset1.txt + validationset2.txt (both validation) and testset.txt, looked up in RAW_DIR,
RAW_DIR/largeWriterIndependentTextLineRecognitionTask or --split_lists DIR. Other splits (e.g.
Bluche's "IAM-B") come as id lists: --split_lists DIR holding {train,valid|validation,test}.{txt,lst,uttlist},
or --train_list/--validation_list/--test_list. A list may name lines or whole forms. Lines in no
list are left out (counted in the card); "err" rows are kept and flagged in `segmentation`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterator

from .records import (
    Excluded,
    Invalid,
    InvalidInputError,
    Record,
    SourceInfo,
    SourceItem,
    iter_utf8_lines,
    require_file,
    split_lists_to_map,
    undecodable_line,
)

INFO = SourceInfo(
    name="iam",
    pretty_name="IAM Handwriting Database (lines)",
    text_rules="iam",
    homepage="https://fki.tic.heia-fr.ch/databases/iam-handwriting-database",
    license="other",
    license_terms="IAM Handwriting Database terms: non-commercial research use, registration required",
    language=("en",),
    metadata_columns=("writer", "form_id", "segmentation"),
    description=(
        "Text lines of the IAM Handwriting Database: modern English forms written by several hundred "
        'writers. `text` is the line transcription with the word separator "|" turned into spaces.'
    ),
    citation="""@article{marti2002iam,
  title   = {The {IAM}-database: an {English} sentence database for offline handwriting recognition},
  author  = {Marti, U.-V. and Bunke, H.},
  journal = {International Journal on Document Analysis and Recognition},
  volume  = {5},
  number  = {1},
  pages   = {39--46},
  year    = {2002}
}""",
)

IAM_D_FILES = {
    "train": ("trainset.txt",),
    "validation": ("validationset1.txt", "validationset2.txt"),
    "test": ("testset.txt",),
}
LIST_STEMS = {"train": ("train", "tr"), "validation": ("validation", "valid", "val", "va"), "test": ("test", "te")}
LIST_SUFFIXES = (".txt", ".lst", ".uttlist")
TASK_FOLDER = "largeWriterIndependentTextLineRecognitionTask"


def form_id(line_id: str) -> str:
    return line_id.rsplit("-", 1)[0]


def _iam_d_lists(folder: Path) -> dict[str, list[Path]] | None:
    lists = {split: [folder / name for name in names] for split, names in IAM_D_FILES.items()}
    return lists if all(path.is_file() for paths in lists.values() for path in paths) else None


def _named_lists(folder: Path) -> dict[str, list[Path]] | None:
    lists = {}
    for split, stems in LIST_STEMS.items():
        found = [folder / f"{stem}{suffix}" for stem in stems for suffix in LIST_SUFFIXES]
        found = [path for path in found if path.is_file()]
        if not found:
            return None
        lists[split] = found[:1]
    return lists


def find_split_lists(raw_dir: Path, split_lists: Path | None) -> dict[str, list[Path]]:
    """The split list files to use: from --split_lists DIR, else the IAM-D lists next to the data."""
    if split_lists is not None:
        lists = _iam_d_lists(split_lists) or _named_lists(split_lists)
        if lists is None:
            raise InvalidInputError(
                f"no split lists in {split_lists}: expected trainset.txt, validationset1.txt, validationset2.txt, "
                "testset.txt (IAM-D) or {train,valid|validation,test}.{txt,lst,uttlist}"
            )
        return lists
    for folder in (raw_dir, raw_dir / TASK_FOLDER):
        lists = _iam_d_lists(folder)
        if lists is not None:
            return lists
    raise InvalidInputError(
        f"IAM split lists not found in {raw_dir} or {raw_dir / TASK_FOLDER} (trainset.txt, validationset1.txt, "
        "validationset2.txt, testset.txt from the 'large writer independent text line recognition task'); "
        "put them there or pass --split_lists DIR, or --train_list/--validation_list/--test_list"
    )


def read_writers(forms_file: Path) -> dict[str, str]:
    writers = {}
    for _, line, _ in iter_utf8_lines(forms_file):
        if line and not line.startswith("#"):
            fields = line.split()
            if len(fields) >= 2:
                writers[fields[0]] = fields[1]
    return writers


def iter_records(
    raw_dir: Path,
    split_lists: Path | None = None,
    train_list: list[Path] | None = None,
    validation_list: list[Path] | None = None,
    test_list: list[Path] | None = None,
) -> Iterator[SourceItem]:
    lines_file = require_file(raw_dir / "ascii" / "lines.txt", "IAM ascii/lines.txt")
    explicit = {"train": train_list, "validation": validation_list, "test": test_list}
    if any(explicit.values()):
        missing = [split for split, paths in explicit.items() if not paths]
        if missing:
            raise InvalidInputError(f"split lists given for some splits but not for {missing}")
        lists = {split: [Path(path) for path in paths] for split, paths in explicit.items()}
    else:
        lists = find_split_lists(raw_dir, split_lists)
    id_to_split = split_lists_to_map(lists)
    forms_file = raw_dir / "ascii" / "forms.txt"
    writers = read_writers(forms_file) if forms_file.is_file() else {}

    seen_lines, not_in_split = set(), 0
    for number, line, raw in iter_utf8_lines(lines_file):
        if line is None:
            yield undecodable_line(raw, number, lines_file)
            continue
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(" ", 8)
        line_id = fields[0]
        seen_lines.add(line_id)
        if len(fields) < 9 or fields[1] not in ("ok", "err"):
            yield Invalid(line_id, "malformed lines.txt row", f"{lines_file}:{number}")
            continue
        form = form_id(line_id)
        split = id_to_split.get(line_id) or id_to_split.get(form)
        if split is None:
            not_in_split += 1
            continue
        yield Record(
            sample_id=line_id,
            split=split,
            text=fields[8].strip().replace("|", " "),
            image=raw_dir / "lines" / form.split("-")[0] / form / f"{line_id}.png",
            metadata={"writer": writers.get(form, form), "form_id": form, "segmentation": fields[1]},
        )
    listed_forms = {form_id(line_id) for line_id in seen_lines} | seen_lines
    for listed in id_to_split:
        if listed not in listed_forms:
            yield Invalid(listed, "listed in a split list but absent from ascii/lines.txt")
    if not_in_split:
        yield Excluded(not_in_split, "line in none of the split lists")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--split_lists", type=Path, help="folder with IAM-D lists or {train,valid,test} id lists (e.g. IAM-B)"
    )
    parser.add_argument("--train_list", type=Path, nargs="+", help="id list file(s) for train")
    parser.add_argument("--validation_list", type=Path, nargs="+", help="id list file(s) for validation")
    parser.add_argument("--test_list", type=Path, nargs="+", help="id list file(s) for test")
