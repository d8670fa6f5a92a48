"""HKR: Handwritten Kazakh and Russian database (modern forms, Cyrillic).

Raw layout (the official download):
    img/<name>.jpg
    ann/<name>.json        {"name": ..., "description": <the text>, ...}
    HKR_splitting.csv      columns id, stage in {train, val, test1, test2} (test1 and test2 -> test)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from .records import (
    Excluded,
    Invalid,
    Record,
    SourceInfo,
    SourceItem,
    iter_csv_rows,
    read_text_file,
    require_dir,
    require_file,
)

INFO = SourceInfo(
    name="hkr",
    pretty_name="HKR: Handwritten Kazakh and Russian",
    text_rules="hkr",
    homepage="https://github.com/abdoelsayed2016/HKR_Dataset",
    license="other",
    license_terms="see the HKR dataset repository",
    language=("kk", "ru"),
    description=(
        "Handwritten Kazakh and Russian text (Cyrillic) from filled-in forms; official splits from "
        "HKR_splitting.csv with test1 and test2 merged into test."
    ),
    citation="""@article{nurseitov2021hkr,
  title   = {Handwritten {Kazakh} and {Russian} ({HKR}) database for text recognition},
  author  = {Nurseitov, Daniyar and Bostanbekov, Kairat and Kurmankhojayev, Daniyar and Alimova, Anel
             and Abdallah, Abdelrahman and Tolegenov, Rassul},
  journal = {Multimedia Tools and Applications},
  year    = {2021}
}""",
)

STAGE_TO_SPLIT = {
    "train": "train",
    "val": "validation",
    "valid": "validation",
    "test1": "test",
    "test2": "test",
    "test": "test",
}


def _read_annotation(path: Path) -> tuple[str | None, str]:
    """(text, problem) of an ann/*.json file; text is None when the file is unusable."""
    try:
        annotation = json.loads(read_text_file(path))
    except FileNotFoundError:
        return None, "annotation file missing"
    except UnicodeDecodeError:
        return None, "text not UTF-8"
    except json.JSONDecodeError:
        return None, "annotation is not valid JSON"
    description = annotation.get("description") if isinstance(annotation, dict) else None
    if not isinstance(description, str):
        return None, "annotation has no text description"
    return description, ""


def _image_path(image_dir: Path, name: str) -> Path:
    path = image_dir / f"{name}.jpg"
    if path.exists():
        return path
    return next(iter(sorted(image_dir.glob(f"{name}.*"))), path)


def iter_records(raw_dir: Path) -> Iterator[SourceItem]:
    image_dir = require_dir(raw_dir / "img", "HKR img folder")
    ann_dir = require_dir(raw_dir / "ann", "HKR ann folder")
    rows = iter_csv_rows(require_file(raw_dir / "HKR_splitting.csv", "HKR_splitting.csv"), ("id", "stage"))
    listed = set()
    for row in rows:
        name = Path(row["id"].strip()).stem
        listed.add(name)
        split = STAGE_TO_SPLIT.get(row["stage"].strip().lower())
        if split is None:
            yield Invalid(name, "unknown stage", repr(row["stage"]))
            continue
        text, problem = _read_annotation(ann_dir / f"{name}.json")
        if text is None:
            yield Invalid(name, problem, str(ann_dir / f"{name}.json"))
            continue
        yield Record(name, split, text.strip(), _image_path(image_dir, name))
    unlisted = sum(1 for path in ann_dir.glob("*.json") if path.stem not in listed)
    if unlisted:
        yield Excluded(unlisted, "annotation not listed in HKR_splitting.csv")
