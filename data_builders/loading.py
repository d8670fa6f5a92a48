"""Loading a dataset from a local folder or a Hub id, a local folder always as it is on disk now.

`datasets.load_dataset(folder)` (datasets 5.2) caches a folder whose card has a YAML `configs`
block under the folder's *name* and that block, not under its files: two folders `a/ds` and
`b/ds`, or one folder rebuilt in place, all load as whichever was loaded first. Here the data
files of a local folder are resolved now, from the card's `configs` (or datasets' default
layout without them), and handed to the `parquet` builder explicitly, whose cache key is the
files' paths and modification times. The card keeps its `configs`, which the Hub reads. Hub ids
go through `datasets.load_dataset` unchanged.

    splits = load_dataset_folder_or_hub("data/saintgall")               # DatasetDict
    test = load_dataset_folder_or_hub("user/saint-gall", split="test")   # Dataset
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.data_files import DataFilesDict, get_data_patterns, sanitize_patterns
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from stackmix_htr.common.errors import InputError
from stackmix_htr.common.hub import could_be_hub_id


class DatasetLoadError(InputError):
    """A dataset folder or Hub id that cannot be loaded as asked (missing, unreachable, no such split)."""


def _describe(error: BaseException) -> str:
    """The first line of `error`'s message, or of its cause when datasets wraps it in a generic one."""
    if isinstance(error, datasets.exceptions.DatasetGenerationError) and error.__cause__ is not None:
        error = error.__cause__
    first_line = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first_line}"


def _local_data_files(folder: Path, config: str | None, where: str) -> dict[str, list[str]]:
    """Split -> data files of `config` of a local folder, resolved now."""
    readme = folder / "README.md"
    try:
        card_data = DatasetCard.load(readme).data if readme.is_file() else DatasetCardData()
        configs = MetadataConfigs.from_dataset_card_data(card_data)
        if configs:
            name = config or configs.get_default_config_name()
            if name is None:
                raise DatasetLoadError(f"{where}: the folder holds several configs; choose one of {sorted(configs)}")
            if name not in configs:
                raise DatasetLoadError(f"{where}: no config {name!r}; available: {sorted(configs)}")
            params = configs[name]
            base = folder / params["data_dir"] if params.get("data_dir") else folder
            patterns = params.get("data_files")
            patterns = sanitize_patterns(patterns) if patterns is not None else get_data_patterns(str(base))
        elif config is not None:
            raise DatasetLoadError(f"{where}: the card of {folder} declares no configs")
        else:
            base, patterns = folder, get_data_patterns(str(folder))
        files = DataFilesDict.from_patterns(patterns, base_path=str(base))
    except InputError:
        raise
    except Exception as error:  # a malformed card, no data files, a pattern that matches nothing
        raise DatasetLoadError(f"{where}: no readable data files ({_describe(error)})") from error
    return {split: list(paths) for split, paths in files.items()}


def _read_parquet_splits(files: dict[str, list[str]], where: str) -> datasets.DatasetDict:
    """The splits of local Parquet files. Files without rows are left out (datasets 5.2 cannot
    read them); a split that has only such files is empty, with the features of their schema."""
    try:
        filled = {split: [path for path in paths if pq.read_metadata(path).num_rows] for split, paths in files.items()}
    except (pa.ArrowException, OSError) as error:
        raise DatasetLoadError(f"{where}: unreadable Parquet shard ({_describe(error)})") from error
    to_load = {split: paths for split, paths in filled.items() if paths}
    loaded = datasets.load_dataset("parquet", data_files=to_load) if to_load else {}
    splits = {}
    for split, paths in files.items():
        if split in loaded:
            splits[split] = loaded[split]
        else:
            features = datasets.Features.from_arrow_schema(pq.read_schema(paths[0]))
            splits[split] = datasets.Dataset.from_dict({name: [] for name in features}, features=features)
    return datasets.DatasetDict(splits)


def _load_local_folder(folder: Path, config: str | None, split: str | None, where: str) -> datasets.DatasetDict:
    saved_to_disk = (folder / "dataset_dict.json").is_file()  # read in place, no cache involved
    files = {} if saved_to_disk else _local_data_files(folder, config, where)
    if split is not None and not saved_to_disk:
        if split not in files:
            raise DatasetLoadError(f"{where}: no split {split!r}; available: {sorted(files)}")
        files = {split: files[split]}
    try:
        if saved_to_disk:
            return datasets.load_from_disk(str(folder))
        if all(path.endswith(".parquet") for paths in files.values() for path in paths):
            return _read_parquet_splits(files, where)
        # Other formats: datasets' cache may follow the folder's name here too, so it is rebuilt.
        return datasets.load_dataset(str(folder), config, download_mode=datasets.DownloadMode.FORCE_REDOWNLOAD)
    except InputError:
        raise
    except Exception as error:  # corrupt shards, mismatching schemas
        raise DatasetLoadError(f"{where}: cannot be loaded ({_describe(error)})") from error


def _load_hub(dataset_id: str, config: str | None, where: str) -> datasets.DatasetDict:
    try:
        return datasets.load_dataset(dataset_id, config)
    except Exception as error:  # datasets and the Hub client raise many types
        if datasets.config.HF_HUB_OFFLINE:
            raise DatasetLoadError(
                f"{where}: no such folder, and offline (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE) the Hub dataset "
                f"{dataset_id!r} cannot be reached nor is it cached; check the path"
            ) from error
        if isinstance(error, datasets.exceptions.DatasetNotFoundError):
            raise DatasetLoadError(
                f"{where}: no such folder, and no Hub dataset {dataset_id!r} this account can read; check the path "
                "or the id (private datasets need `hf auth login`)"
            ) from error
        raise DatasetLoadError(f"{where}: cannot be loaded from the Hub ({_describe(error)})") from error


def load_dataset_folder_or_hub(
    dataset: str | os.PathLike, config: str | None = None, split: str | None = None
) -> datasets.DatasetDict | datasets.Dataset:
    """`datasets.load_dataset(dataset, config, split=split)` that reads a local folder as it is now.

    `dataset` is a folder as the builders write it (Parquet shards + card), any folder
    `load_dataset` reads, a `save_to_disk` folder, or a Hub dataset id.

    Returns:
        the `DatasetDict`, or the `Dataset` of `split` when one is given.

    Raises:
        DatasetLoadError (an `InputError`) naming the dataset and what is wrong: no such folder,
        offline and not cached, no such config or split, unreadable files.
    """
    where = f"dataset {dataset}" + (f" (config {config})" if config else "")
    path = Path(dataset).expanduser()
    if path.is_dir():
        splits = _load_local_folder(path, config, split, where)
    elif path.exists():
        raise DatasetLoadError(f"{where}: a file, not a dataset folder")
    elif not could_be_hub_id(dataset):
        raise DatasetLoadError(f"{where}: no such folder")
    else:
        splits = _load_hub(str(dataset), config, where)
    if split is None:
        return splits
    if split not in splits:
        raise DatasetLoadError(f"{where}: no split {split!r}; available: {sorted(splits)}")
    return splits[split]


# ------------------------------------------------------------------------ derived folders (StackMix)


class DatasetFolderError(InputError, ValueError):
    """A derived dataset folder is missing, corrupt, or not of the expected kind."""


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
