"""Loading a dataset folder reads what is on disk now; missing folders, unreachable Hub ids and
empty shards give clear errors or empty splits."""

from __future__ import annotations

from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from support.builders import make_marking

from augmentations.stackmix.char_masks import CHAR_MASK_FEATURES, CharMaskReport, save_char_masks
from data_builders import InputError, build, load_dataset_folder_or_hub


@pytest.fixture(autouse=True)
def own_datasets_cache(tmp_path, monkeypatch):
    """Each test starts with an empty datasets cache (the stale-cache case needs one process, one cache)."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def build_marking(root: Path, out: Path, prefix: str, overwrite: bool = False) -> Path:
    """A built dataset (with its card's `configs`) whose ids and texts start with `prefix`."""
    rows = [
        (f"{prefix}-train-0", "train", f"{prefix} first", "w1"),
        (f"{prefix}-train-1", "train", f"{prefix} second", "w2"),
        (f"{prefix}-valid-0", "valid", f"{prefix} third", "w1"),
    ]
    make_marking(root, rows)
    build("marking_csv", root, out, overwrite=overwrite, progress=False)
    return out


def rows_on_disk(folder: Path, split: str) -> list[tuple[str, str]]:
    """(sample_id, text) of a split as the Parquet shards hold them, read without datasets."""
    shards = sorted((folder / "data").glob(f"{split}-*.parquet"))
    table = pq.read_table(shards, columns=["sample_id", "text"]) if len(shards) > 1 else pq.read_table(shards[0])
    return list(zip(table.column("sample_id").to_pylist(), table.column("text").to_pylist()))


def loaded_rows(dataset: datasets.Dataset) -> list[tuple[str, str]]:
    return list(zip(dataset["sample_id"], dataset["text"]))


def test_folders_with_the_same_name_load_their_own_rows(tmp_path):
    first = build_marking(tmp_path / "raw-a", tmp_path / "a" / "ds", "alpha")
    second = build_marking(tmp_path / "raw-b", tmp_path / "b" / "ds", "beta")
    for folder in (first, second):
        splits = load_dataset_folder_or_hub(folder)
        for split in ("train", "validation"):
            assert loaded_rows(splits[split]) == rows_on_disk(folder, split)
    assert loaded_rows(load_dataset_folder_or_hub(second, split="train"))[0] == ("beta-train-0", "beta first")


def test_a_folder_rebuilt_with_overwrite_loads_its_new_rows(tmp_path):
    folder = build_marking(tmp_path / "raw-old", tmp_path / "ds", "old")
    assert loaded_rows(load_dataset_folder_or_hub(folder, split="train")) == rows_on_disk(folder, "train")
    build_marking(tmp_path / "raw-new", folder, "new", overwrite=True)
    assert (folder / "README.md").read_text().count("configs:") == 1  # the card keeps its configs for the Hub
    rebuilt = load_dataset_folder_or_hub(folder, split="train")
    assert loaded_rows(rebuilt) == rows_on_disk(folder, "train")
    assert rebuilt["sample_id"] == ["new-train-0", "new-train-1"]


def test_a_save_to_disk_folder_is_read_in_place(tmp_path):
    folder = tmp_path / "saved"
    data = datasets.Dataset.from_dict({"sample_id": ["x"], "text": ["t"]})
    datasets.DatasetDict({"train": data}).save_to_disk(str(folder))
    assert load_dataset_folder_or_hub(folder, split="train")["sample_id"] == ["x"]


def test_empty_parquet_shards_are_left_out_and_an_empty_split_loads_empty(tmp_path):
    rows = [{"sample_id": "line-0", "text": "ab", "boxes": [], "score": -0.5, "method": "forced"}]
    masks = save_char_masks(rows, CharMaskReport("forced"), tmp_path / "masks", "train", {"model": "m", "dataset": "d"})
    empty = save_char_masks([], CharMaskReport("forced"), tmp_path / "empty", "train", {"model": "m", "dataset": "d"})
    assert pq.ParquetFile(next((empty / "data").glob("train-*.parquet"))).metadata.num_row_groups == 0
    loaded = load_dataset_folder_or_hub(empty, split="train")
    assert loaded.num_rows == 0 and loaded.features == CHAR_MASK_FEATURES

    # A shard with one empty row group (other writers make them) beside a full one.
    pq.write_table(CHAR_MASK_FEATURES.arrow_schema.empty_table(), masks / "data" / "train-00001-of-00002.parquet")
    (masks / "data" / "train-00000-of-00001.parquet").rename(masks / "data" / "train-00000-of-00002.parquet")
    assert loaded_rows(load_dataset_folder_or_hub(masks, split="train")) == [("line-0", "ab")]


def test_missing_folder_unknown_split_and_offline_hub_id_are_named(tmp_path, monkeypatch):
    with pytest.raises(InputError, match=f"dataset {tmp_path / 'nothing'}: no such folder$"):
        load_dataset_folder_or_hub(tmp_path / "nothing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="a file, not a dataset folder"):
        load_dataset_folder_or_hub(tmp_path / "file")
    folder = build_marking(tmp_path / "raw", tmp_path / "ds", "x")
    with pytest.raises(InputError, match=r"no split 'test'; available: \['train', 'validation'\]"):
        load_dataset_folder_or_hub(folder, split="test")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(InputError, match="dataset someone/lines: no such folder, and offline .* cannot be reached"):
        load_dataset_folder_or_hub("someone/lines")


def test_a_rewritten_folder_of_another_format_loads_its_new_rows(tmp_path):
    folder = tmp_path / "csv"
    (folder / "data").mkdir(parents=True)
    card = "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train.csv\n---\n"
    (folder / "README.md").write_text(card, encoding="utf-8")
    for text in ("first", "second"):
        (folder / "data" / "train.csv").write_text(f"sample_id,text\nline-0,{text}\n", encoding="utf-8")
        assert load_dataset_folder_or_hub(folder, split="train")["text"] == [text]


def test_a_missing_folder_beside_existing_ones_is_not_looked_up_on_the_hub(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        "data_builders.loading._load_hub", lambda *args: pytest.fail("a missing local folder was looked up on the Hub")
    )
    with pytest.raises(InputError, match=r"^dataset data/mine: no such folder$"):
        load_dataset_folder_or_hub("data/mine")
