"""`build(name, raw_dir, out_dir, **options)`: run one source module through the shared writer."""

from __future__ import annotations

import importlib
import os
import zipfile
from pathlib import Path

from stackmix_htr.common.atomic import check_output_folder

from .hub import push_to_hub as upload_to_hub
from .records import BuildReport, InvalidInputError
from .writer import BUILT_DATASET, DEFAULT_MAX_SHARD_MB, write_dataset

# Source name -> module, or "module:object" for a builder object that serves several names. Every
# source has INFO (a SourceInfo) and iter_records(raw_dir, **options); sources with their own options
# also have add_arguments(parser), and sources whose columns depend on the raw data have
# source_info(raw_dir, **options).
BUILDERS = {
    "synthetic": "data_builders.synthetic",
    "saintgall": "data_builders.saintgall",
    "iam": "data_builders.iam",
    "bentham": "data_builders.bentham",
    "peter": "data_builders.peter",
    "hkr": "data_builders.hkr",
    "marking_csv": "data_builders.marking_csv",
    "page_xml": "data_builders.pages:PAGE_XML",
    "alto": "data_builders.pages:ALTO",
}


def get_source(name: str):
    if name not in BUILDERS:
        raise ValueError(f"unknown dataset builder {name!r}; choose one of {sorted(BUILDERS)}")
    module, _, attribute = BUILDERS[name].partition(":")
    source = importlib.import_module(module)
    return getattr(source, attribute) if attribute else source


def _describe_option(value):
    # Local paths say nothing to readers of a published card beyond their file name.
    if isinstance(value, (list, tuple)):
        return [_describe_option(item) for item in value]
    return Path(value).name if isinstance(value, os.PathLike) else value


def build(
    name: str,
    raw_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    skip_invalid: bool = False,
    max_shard_mb: float = DEFAULT_MAX_SHARD_MB,
    push_to_hub: str | None = None,
    private: bool = False,
    token: str | None = None,
    progress: bool = True,
    **options,
) -> BuildReport:
    """Build dataset `name` from RAW_DIR into OUT_DIR (Parquet shards + card); optionally upload it.

    `options` are the source's own (e.g. `split_lists` for "iam", `num_lines`/`seed` for "synthetic").
    """
    source = get_source(name)
    out_dir = Path(out_dir)
    check_output_folder(out_dir, overwrite=overwrite, kind=BUILT_DATASET)
    if source.INFO.needs_raw:
        if raw_dir is None:
            raise InvalidInputError(f"the {name} builder needs --raw (the folder of the official download)")
        if not (Path(raw_dir).is_dir() or (source.INFO.accepts_zip and zipfile.is_zipfile(raw_dir))):
            kind = "folder or ZIP archive" if source.INFO.accepts_zip else "folder"
            if Path(raw_dir).exists():
                raise InvalidInputError(f"raw data {raw_dir} is not a {kind}")
            raise InvalidInputError(f"raw data {kind} not found: {raw_dir}")
        raw_dir = Path(raw_dir)
        items = source.iter_records(raw_dir, **options)
    else:
        items = source.iter_records(**options)
    info = source.source_info(raw_dir, **options) if hasattr(source, "source_info") else source.INFO
    recorded = {key: _describe_option(value) for key, value in options.items() if value is not None}
    report = write_dataset(
        info,
        items,
        out_dir,
        overwrite=overwrite,
        skip_invalid=skip_invalid,
        max_shard_mb=max_shard_mb,
        progress=progress,
        options=recorded,
    )
    if push_to_hub:
        upload_to_hub(out_dir, push_to_hub, private=private, token=token)
    return report
