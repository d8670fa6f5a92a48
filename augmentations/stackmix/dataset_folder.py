"""Hugging Face dataset folders for derived data (char masks, token banks): atomic writing and reading.

A folder is what `push_to_hub` would upload, so `datasets.load_dataset(folder)` reads it:

    FOLDER/README.md                                    card (YAML `configs` + a short body)
    FOLDER/data/{split}-{i:05d}-of-{n:05d}.parquet      shards of the "default" config
    FOLDER/{config}/{split}-{i:05d}-of-{n:05d}.parquet  shards of any other config
    FOLDER/<extra files>                                e.g. a JSON with machine-readable facts

Features (e.g. `datasets.Image()`) are stored in the Parquet schema.

The folder is assembled in a temporary sibling and moved into place at the end, so a failed
run never leaves a half-written folder and an existing one is replaced only once the new one
is complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from data_builders.atomic import atomic_folder, check_output_folder
from data_builders.errors import InputError


class DatasetFolderError(InputError, ValueError):
    """A derived dataset folder is missing, corrupt, or not of the expected kind."""


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


def _write_part(tmp_dir: Path, part: Part) -> None:
    part_dir = tmp_dir / part.directory
    part_dir.mkdir(exist_ok=True)
    schema = part.features.arrow_schema
    partials = []
    for table in part.tables:
        if table.num_rows == 0:
            continue
        partial = part_dir / f"{part.split}-{len(partials):05d}.partial"
        pq.write_table(table.select(schema.names).cast(schema), partial)
        partials.append(partial)
    if not partials:  # an empty split still gets a shard so it loads
        partial = part_dir / f"{part.split}-00000.partial"
        # No row group, as datasets itself writes an empty table (its reader fails on an empty row group).
        pq.ParquetWriter(partial, schema).close()
        partials.append(partial)
    for index, partial in enumerate(partials):
        partial.rename(part_dir / f"{part.split}-{index:05d}-of-{len(partials):05d}.parquet")


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
            _write_part(tmp_dir, part)
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


def split_shards(
    folder: str | os.PathLike, split: str | None = None, config: str = "default"
) -> tuple[str, list[Path]]:
    """Return (split, shard paths) of one config of a folder written by `write_dataset_folder`.

    With `split=None` the config must hold exactly one split.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetFolderError(f"{folder} does not exist or is not a folder")
    directory = "data" if config == "default" else config
    shards = sorted((folder / directory).glob("*-of-*.parquet"))
    if not shards:
        raise DatasetFolderError(
            f"{folder} has no Parquet shards under {directory}/ (expected {directory}/<split>-*.parquet)"
        )
    available = sorted({path.name.rsplit("-", 3)[0] for path in shards})
    if split is None:
        if len(available) != 1:
            raise DatasetFolderError(f"{folder} holds splits {available}; choose one")
        split = available[0]
    chosen = [path for path in shards if path.name.rsplit("-", 3)[0] == split]
    if not chosen:
        raise DatasetFolderError(f"{folder} has no split {split!r} (it has {available})")
    return split, chosen


def read_split(
    folder: str | os.PathLike, split: str | None = None, columns: list[str] | None = None, config: str = "default"
) -> pa.Table:
    """Read one split of a derived dataset folder as a single Arrow table (no datasets cache)."""
    split, shards = split_shards(folder, split, config)
    try:
        return pa.concat_tables(pq.read_table(path, columns=columns) for path in shards)
    except (pa.ArrowException, OSError) as error:
        raise DatasetFolderError(f"{folder}: cannot read split {split!r}: {error}") from error


def read_json(folder: str | os.PathLike, name: str) -> dict:
    path = Path(folder) / name
    if not path.is_file():
        raise DatasetFolderError(f"{path} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetFolderError(f"{path} is not valid JSON: {error}") from error
