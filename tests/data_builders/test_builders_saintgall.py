"""The Saint Gall builder on the real database (skipped when it is absent)."""

from __future__ import annotations

import io

import datasets
import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_builders import InvalidInputError, build, read_text_rules

# The two first lines of page csg562-003 have a transcription but no normalized image in v1.0.
LINES_WITHOUT_IMAGE = ("csg562-003-01", "csg562-003-02")


@pytest.fixture(scope="module")
def saint_gall_built(saint_gall_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("saintgall") / "dataset"
    report = build("saintgall", saint_gall_dir, out, skip_invalid=True, progress=False)
    return out, report


def test_lines_without_image_stop_the_default_build(saint_gall_dir, tmp_path):
    with pytest.raises(InvalidInputError) as error:
        build("saintgall", saint_gall_dir, tmp_path / "out", progress=False)
    message = str(error.value)
    assert f"image file missing (2): {', '.join(LINES_WITHOUT_IMAGE)}" in message
    assert "--skip_invalid" in message
    assert not (tmp_path / "out").exists()


def test_official_split_sizes_charset_and_card(saint_gall_built, tmp_path):
    out, _ = saint_gall_built
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert {split: dataset.num_rows for split, dataset in loaded.items()} == {
        "train": 466,
        "validation": 235,
        "test": 707,
    }
    characters = set()
    for dataset in loaded.values():
        for text in dataset["text"]:
            characters.update(text)
    assert len(characters) == 50
    assert read_text_rules(out) == "saintgall"
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"- image file missing: 2 ({', '.join(LINES_WITHOUT_IMAGE)})" in card
    assert not set(LINES_WITHOUT_IMAGE) & set(loaded["train"]["sample_id"])

    # Decoded by hand from ground_truth/transcription.txt:
    # r-et|a-m-o-r-e-m-pt|s-i-c-u-t-i|d-e|e-o|p-r-i-u-s-q-u-a-m|n-a-s-c-e-r-et-u-r|p-r-o-v-i-s-u-m|e-e
    row = loaded["train"][loaded["train"]["sample_id"].index("csg562-003-03")]
    assert row["text"] == "r& amorem. sicuti de eo priusquam nascer&ur provisum ee"
    assert row["page_id"] == "csg562-003"


def test_images_are_120_px_high(saint_gall_built):
    out, _ = saint_gall_built
    heights = set()
    for shard in sorted((out / "data").glob("*.parquet")):
        for image in pq.read_table(shard, columns=["image"]).column("image").to_pylist():
            with Image.open(io.BytesIO(image["bytes"])) as decoded:
                heights.add(decoded.height)
    assert heights == {120}


def test_streaming_reads_the_same_lines(saint_gall_built, tmp_path):
    out, _ = saint_gall_built
    streamed = datasets.load_dataset(str(out), streaming=True, cache_dir=str(tmp_path / "cache"))
    ids = [row["sample_id"] for row in streamed["validation"]]
    assert len(ids) == len(set(ids)) == 235
    first = next(iter(streamed["test"]))
    assert first["image"].height == 120 and first["text"]
