"""The one Parquet folder writer: line datasets of every builder, and the derived folders of StackMix
(char masks, token banks), all as `push_to_hub` uploads them and `datasets.load_dataset` reads them:

    OUT_DIR/README.md                                   card (YAML `configs`, ...) and its body
    OUT_DIR/data/{split}-{i:05d}-of-{n:05d}.parquet     shards of the "default" config, features in the schema
    OUT_DIR/{config}/{split}-...parquet                 shards of any other config
    OUT_DIR/<extra files>                               e.g. a JSON with machine-readable facts

A folder is assembled in a temporary sibling and moved into place at the end, so a failed run never
leaves a half-written folder and an existing one is replaced only once the new one is complete.

`write_dataset` is what every builder's records go through (validation, image checks, the dataset
card): rows stream into shards of at most `max_shard_mb`, so memory does not grow with the dataset's
size. `write_dataset_folder` writes given Arrow tables, one shard each.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from PIL import Image
from tqdm.auto import tqdm

from stackmix_htr.common.atomic import atomic_folder, check_output_folder

from .card import write_card
from .records import SPLITS, BuildReport, Excluded, Invalid, InvalidInputError, Note, Record, SourceInfo, SourceItem

DEFAULT_MAX_SHARD_MB = 256
ROWS_PER_ROW_GROUP = 100  # small row groups keep streaming reads light
MAX_IDS_IN_MESSAGE = 5
IMAGE_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def dataset_features(info: SourceInfo) -> datasets.Features:
    columns = {
        "sample_id": datasets.Value("string"),
        "image": datasets.Image(),
        "text": datasets.Value("string"),
    }
    columns.update({name: info.metadata_features.get(name, datasets.Value("string")) for name in info.metadata_columns})
    return datasets.Features(columns)


def read_image_file(path: Path) -> bytes:
    return Path(path).read_bytes()


def inspect_image(data: bytes) -> tuple[int, int, str]:
    """Fully decode the image (a truncated file only fails on load); return (width, height, format)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.width, image.height, (image.format or "png").lower()


class ShardWriter:
    """Writes one split's rows (or whole tables) into numbered shards: `add` starts a new shard once the
    current one holds `max_shard_bytes` of payload, `add_table` writes a table as a shard of its own.
    `close` names the shards `{split}-{i:05d}-of-{n:05d}.parquet`; a split without rows still gets an
    (empty) shard, so it loads."""

    def __init__(self, data_dir: Path, split: str, schema: pa.Schema, max_shard_bytes: int | None = None):
        self.data_dir, self.split, self.schema = data_dir, split, schema
        self.max_shard_bytes = max_shard_bytes
        self.shard_paths: list[Path] = []
        self._writer: pq.ParquetWriter | None = None
        self._rows: list[dict] = []
        self._shard_bytes = 0

    def add(self, row: dict, payload_bytes: int) -> None:
        if self._writer is not None and self._shard_bytes + payload_bytes > self.max_shard_bytes:
            self._close_shard()
        if self._writer is None:
            self._open_shard()
        self._rows.append(row)
        self._shard_bytes += payload_bytes
        if len(self._rows) >= ROWS_PER_ROW_GROUP:
            self._flush()

    def add_table(self, table: pa.Table) -> None:
        if table.num_rows:
            self._close_shard()
            self._open_shard()
            self._writer.write_table(table.select(self.schema.names).cast(self.schema))
            self._close_shard()

    def close(self) -> list[Path]:
        """The final shard paths."""
        self._close_shard()
        if not self.shard_paths:
            # No row group, as datasets itself writes an empty table (its reader fails on an empty row group).
            self._open_shard()
            self._close_shard()
        final = []
        for index, partial in enumerate(self.shard_paths):
            final.append(partial.with_name(f"{self.split}-{index:05d}-of-{len(self.shard_paths):05d}.parquet"))
            partial.rename(final[-1])
        return final

    def _open_shard(self) -> None:
        path = self.data_dir / f"{self.split}-{len(self.shard_paths):05d}.partial"
        self.shard_paths.append(path)
        self._writer = pq.ParquetWriter(path, self.schema)
        self._shard_bytes = 0

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self.schema))
            self._rows = []

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._flush()
            self._writer.close()
            self._writer = None


def _invalid_error(info: SourceInfo, skipped: dict[str, list[str]]) -> InvalidInputError:
    total = sum(len(ids) for ids in skipped.values())
    lines = [f"{total} invalid sample(s) in the {info.name} raw data:"]
    for problem, ids in skipped.items():
        shown = ", ".join(ids[:MAX_IDS_IN_MESSAGE])
        more = f", ... ({len(ids) - MAX_IDS_IN_MESSAGE} more)" if len(ids) > MAX_IDS_IN_MESSAGE else ""
        lines.append(f"  - {problem} ({len(ids)}): {shown}{more}")
    lines.append(
        "Fix the raw data, or pass --skip_invalid (skip_invalid=True) to leave these samples out; "
        "the dataset card then records how many were skipped and why."
    )
    return InvalidInputError("\n".join(lines))


def _validate(record: Record, seen_ids: set[str]) -> tuple[Invalid | None, bytes | None, tuple | None]:
    """Check one record; return (problem, image bytes, (width, height, format))."""
    if record.split not in SPLITS:
        return Invalid(record.sample_id, "unknown split", record.split), None, None
    if record.sample_id in seen_ids:
        return Invalid(record.sample_id, "duplicate sample_id"), None, None
    if not record.text or not record.text.strip():
        return Invalid(record.sample_id, "empty transcription"), None, None
    if isinstance(record.image, bytes):
        data = record.image
    else:
        try:
            data = read_image_file(record.image)
        except FileNotFoundError:
            return Invalid(record.sample_id, "image file missing", str(record.image)), None, None
    try:
        size = inspect_image(data)
    except IMAGE_DECODE_ERRORS as error:
        return Invalid(record.sample_id, "unreadable image", f"{record.image}: {error}"), None, None
    return None, data, size


def _consume(
    info: SourceInfo,
    items: Iterable[SourceItem],
    writers: dict[str, ShardWriter],
    report: BuildReport,
    progress: bool,
    total: int | None,
) -> None:
    """Validate every item and hand the valid rows to their split's writer."""
    seen_ids: set[str] = set()
    with tqdm(total=total, desc=f"building {info.name}", unit=" lines", disable=not progress) as bar:
        for item in items:
            if isinstance(item, Excluded):
                report.excluded.append(item)
                continue
            if isinstance(item, Note):
                report.notes.append(item)
                continue
            if isinstance(item, Record):
                problem, data, size = _validate(item, seen_ids)
            else:
                problem = item
            bar.update(1)
            if problem is not None:
                report.skipped[problem.problem].append(problem.sample_id)
                continue
            seen_ids.add(item.sample_id)
            width, height, image_format = size
            name = item.image.name if isinstance(item.image, Path) else f"{item.sample_id}.{image_format}"
            row = {"sample_id": item.sample_id, "image": {"bytes": data, "path": name}, "text": item.text}
            row.update({column: item.metadata.get(column) for column in info.metadata_columns})
            writers[item.split].add(row, len(data) + len(item.text.encode("utf-8")))
            report.counts[item.split] += 1
            report.char_counts[item.split].update(item.text)
            report.add_image_size(width, height)


def _write_shards(
    info: SourceInfo,
    items: Iterable[SourceItem],
    data_dir: Path,
    max_shard_bytes: int,
    progress: bool,
    total: int | None,
) -> BuildReport:
    schema = dataset_features(info).arrow_schema
    writers = {split: ShardWriter(data_dir, split, schema, max_shard_bytes) for split in SPLITS}
    report = BuildReport()
    try:
        _consume(info, items, writers, report, progress, total)
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()  # a generator source releases its files or worker pool now, also on error
    for split, writer in writers.items():
        report.num_shards[split] = len(writer.close())
    return report


BUILT_DATASET = ("a dataset built by data_builders", ("README.md", "data"))


def write_dataset(
    info: SourceInfo,
    items: Iterable[SourceItem],
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    skip_invalid: bool = False,
    max_shard_mb: float = DEFAULT_MAX_SHARD_MB,
    progress: bool = True,
    total: int | None = None,
    options: dict | None = None,
) -> BuildReport:
    """Validate and write `items` into OUT_DIR atomically; return what was written.

    Invalid samples stop the build with an `InvalidInputError` that lists them, unless
    `skip_invalid` is set, in which case they are left out and recorded in the card.
    """
    out_dir = check_output_folder(out_dir, overwrite=overwrite, kind=BUILT_DATASET)
    with atomic_folder(out_dir) as tmp_dir:
        data_dir = tmp_dir / "data"
        data_dir.mkdir()
        max_shard_bytes = max(1, int(max_shard_mb * 1024 * 1024))
        report = _write_shards(info, items, data_dir, max_shard_bytes, progress, total)
        if report.skipped and not skip_invalid:
            raise _invalid_error(info, report.skipped)
        if sum(report.counts.values()) == 0:
            raise InvalidInputError(f"the {info.name} raw data gave no usable samples")
        write_card(tmp_dir, info, report, dataset_features(info), options or {})
    return report


# ------------------------------------------------------------------------ derived folders (StackMix)

DATASET_FOLDER = ("a dataset folder", ("README.md",))


@dataclass
class Part:
    """One (config, split) of a dataset folder: its features and its shards as Arrow tables.

    `tables` is consumed one table at a time (one shard each), so memory stays bounded by a shard.
    """

    config: str
    split: str
    features: datasets.Features
    tables: Iterable[pa.Table]

    @property
    def directory(self) -> str:
        return "data" if self.config == "default" else self.config


def write_dataset_folder(
    out_dir: str | os.PathLike,
    parts: list[Part],
    card: Callable[[], tuple[dict, str]],
    extra_files: Callable[[], dict[str, str]] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `parts` and the card into OUT_DIR atomically.

    `card()` returns (YAML metadata, Markdown body) and `extra_files()` {file name: text}; both
    are called after every shard is written, so they can report counts gathered while writing.
    """
    out_dir = check_output_folder(out_dir, overwrite=overwrite, kind=DATASET_FOLDER)
    with atomic_folder(out_dir) as tmp_dir:
        configs: dict[str, list[dict]] = {}
        for part in parts:
            (tmp_dir / part.directory).mkdir(exist_ok=True)
            writer = ShardWriter(tmp_dir / part.directory, part.split, part.features.arrow_schema)
            for table in part.tables:
                writer.add_table(table)
            writer.close()
            configs.setdefault(part.config, []).append(
                {"split": part.split, "path": f"{part.directory}/{part.split}-*"}
            )
        metadata, body = card()
        metadata = dict(metadata)
        metadata["configs"] = [{"config_name": name, "data_files": files} for name, files in configs.items()]
        front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)
        (tmp_dir / "README.md").write_text(f"---\n{front}---\n\n{body.strip()}\n", encoding="utf-8")
        for name, text in (extra_files() if extra_files else {}).items():
            (tmp_dir / name).write_text(text, encoding="utf-8")
    return out_dir
