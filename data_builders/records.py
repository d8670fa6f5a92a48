"""What a source module yields, what it declares about itself, and helpers for reading raw files."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Union

from stackmix_htr.common.errors import InputError

SPLITS = ("train", "validation", "test")

# Stage names used by the official downloads and by marking.csv files, mapped to split names.
STAGE_TO_SPLIT = {
    "train": "train",
    "training": "train",
    "valid": "validation",
    "val": "validation",
    "validation": "validation",
    "test": "test",
}


class InvalidInputError(InputError, ValueError):
    """The raw data is not usable as given (a missing file, a bad format, invalid samples)."""


@dataclass(frozen=True)
class SourceInfo:
    """What a source module declares about the data it reads (goes into the dataset card)."""

    name: str
    pretty_name: str
    text_rules: str
    homepage: str
    license: str
    citation: str
    description: str
    license_terms: str | None = None  # for license "other": the terms in words (card body)
    language: tuple[str, ...] = ()
    metadata_columns: tuple[str, ...] = ()
    metadata_features: dict = field(default_factory=dict)  # column -> datasets feature, for non-string columns
    needs_raw: bool = True
    accepts_zip: bool = False  # RAW may be a ZIP archive as well as a folder


@dataclass
class Record:
    """One line sample: `image` is a path to an encoded image file or the encoded bytes themselves."""

    sample_id: str
    split: str
    text: str
    image: Union[Path, bytes]
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Invalid:
    """A sample the source could not turn into a record; `problem` groups samples in messages."""

    sample_id: str
    problem: str
    detail: str = ""


@dataclass
class Excluded:
    """Samples that exist in the raw data but belong to no split (reported in the card, not an error)."""

    count: int
    reason: str


@dataclass
class Note:
    """Something the build changed in samples it kept (e.g. clipped coordinates), reported in the card."""

    count: int
    reason: str


SourceItem = Union[Record, Invalid, Excluded, Note]


def stage_to_split(stage: str) -> str | None:
    return STAGE_TO_SPLIT.get(stage.strip().lower())


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise InvalidInputError(f"{what} not found: {path}")
    return path


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise InvalidInputError(f"{what} not found: {path}")
    return path


def read_text_file(path: Path) -> str:
    """Whole file as UTF-8 (a BOM is dropped); raises UnicodeDecodeError for other encodings."""
    return path.read_bytes().decode("utf-8-sig")


def read_line_transcription(sample_id: str, path: Path) -> str | Invalid:
    """One line's transcription file as a single line of text, or the reason it cannot be read."""
    try:
        text = read_text_file(path)
    except FileNotFoundError:
        return Invalid(sample_id, "transcription file missing", str(path))
    except UnicodeDecodeError:
        return Invalid(sample_id, "text not UTF-8", str(path))
    return " ".join(text.strip().splitlines())


def iter_utf8_lines(path: Path) -> Iterator[tuple[int, str | None, bytes]]:
    """Yield (line number, decoded line or None when not UTF-8, raw bytes) for every line.

    Decoding line by line lets a single badly encoded transcription be reported (and skipped)
    by its sample id instead of failing the whole file.
    """
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            raw = raw.rstrip(b"\r\n")
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8"), raw
            except UnicodeDecodeError:
                yield number, None, raw


def undecodable_line(raw: bytes, number: int, path: Path) -> Invalid:
    """An Invalid for a line that is not UTF-8, named by its first token (the id in line-based formats)."""
    token = raw.split(maxsplit=1)[0].decode("utf-8", "replace") if raw.strip() else ""
    return Invalid(token or f"{path.name}:{number}", "text not UTF-8", f"{path}:{number}")


def iter_csv_rows(path: Path, required_columns: tuple[str, ...]) -> Iterator[dict]:
    """Rows of a UTF-8 CSV file as dicts, read lazily, after checking the required columns."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [column for column in required_columns if column not in (reader.fieldnames or [])]
            if missing:
                raise InvalidInputError(f"{path} lacks the column(s) {missing}; found {reader.fieldnames}")
            yield from reader
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"{path} is not UTF-8 text ({error}); re-save it as UTF-8") from error


def read_id_list(path: Path) -> list[str]:
    """Ids listed one per row (blank rows and surrounding whitespace ignored)."""
    try:
        text = read_text_file(path)
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"{path} is not UTF-8 text ({error})") from error
    return [line.strip() for line in text.splitlines() if line.strip()]


def split_lists_to_map(lists: dict[str, list[Path]]) -> dict[str, str]:
    """Map every listed id to its split; an id listed in two different splits is an error."""
    id_to_split: dict[str, str] = {}
    conflicts = []
    for split, paths in lists.items():
        for path in paths:
            for sample_id in read_id_list(require_file(path, f"{split} split list")):
                previous = id_to_split.setdefault(sample_id, split)
                if previous != split:
                    conflicts.append(f"{sample_id} ({previous}, {split})")
    if conflicts:
        raise InvalidInputError(
            f"{len(conflicts)} id(s) appear in more than one split list: {', '.join(conflicts[:5])}"
        )
    return id_to_split


@dataclass
class BuildReport:
    """What a build wrote; rendered into the dataset card."""

    counts: dict[str, int] = field(default_factory=lambda: {split: 0 for split in SPLITS})
    char_counts: dict[str, Counter] = field(default_factory=lambda: {split: Counter() for split in SPLITS})
    skipped: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    excluded: list[Excluded] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    num_shards: dict[str, int] = field(default_factory=dict)
    min_size: tuple[int, int] | None = None
    max_size: tuple[int, int] | None = None

    def add_image_size(self, width: int, height: int) -> None:
        if self.min_size is None:
            self.min_size, self.max_size = (width, height), (width, height)
            return
        self.min_size = (min(self.min_size[0], width), min(self.min_size[1], height))
        self.max_size = (max(self.max_size[0], width), max(self.max_size[1], height))

    @property
    def num_skipped(self) -> int:
        return sum(len(ids) for ids in self.skipped.values())
