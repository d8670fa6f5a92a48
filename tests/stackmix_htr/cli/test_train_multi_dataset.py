"""Several datasets in one run: interleaved training lines, the union of their characters,
validation and test on the first dataset."""

import csv
import json

import datasets
from support.training import TINY_RUN, make_tiny_dataset, run_training, simple_splits

from stackmix_htr.training.multi_dataset import interleave_train_splits, normalize_texts

OTHER_HAND = {"train": [(f"o-{i}", ["xyz", "zyx ab", "yy"][i % 3], 90 + 4 * i) for i in range(6)]}


def test_two_datasets_with_different_characters_train_together(tmp_path):
    first = make_tiny_dataset(tmp_path / "first", simple_splits())  # a, b, c; 12 train lines
    other = make_tiny_dataset(tmp_path / "other", OTHER_HAND)  # train only: x, y, z, space
    output_dir = tmp_path / "run"
    result = run_training(
        "--dataset",
        first,
        "--dataset",
        other,
        "--output_dir",
        output_dir,
        *TINY_RUN,
        "--num_train_epochs",
        2,
        "--train_batch_size",
        3,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "interleaved: 18 per epoch" in result.stdout
    vocab = json.loads((output_dir / "last" / "vocab.json").read_text())
    assert set(vocab) == {"<pad>", "<unk>", " ", "a", "b", "c", "x", "y", "z"}
    rows = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [6, 12]  # 18 lines in batches of 3, every line once per epoch
    with (output_dir / "test_predictions.csv").open(newline="") as handle:
        assert sorted(row["sample_id"] for row in csv.DictReader(handle)) == [f"te-{i}" for i in range(4)]
    card = (output_dir / "last" / "README.md").read_text()
    assert str(first) in card and str(other) in card


def lines(prefix: str, count: int) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"sample_id": [f"{prefix}{i}" for i in range(count)], "image": [None] * count, "text": ["a ,b"] * count,
         "writer": ["w"] * count},
        features=datasets.Features({"sample_id": datasets.Value("string"), "image": datasets.Image(),
                                    "text": datasets.Value("string"), "writer": datasets.Value("string")}),
    )  # fmt: skip


def test_interleaving_keeps_every_line_or_follows_the_probabilities():
    small, large = lines("s", 10), lines("l", 90)
    every_id = sorted(list(small["sample_id"]) + list(large["sample_id"]))
    mixed = interleave_train_splits([small, large])
    assert mixed.column_names == ["sample_id", "image", "text"]
    assert sorted(mixed["sample_id"]) == every_id
    assert list(mixed["sample_id"][:4]) == ["s0", "l0", "s1", "l1"]

    drawn = interleave_train_splits([small, large], probabilities=[0.5, 0.5], seed=0)
    ids = list(drawn["sample_id"])
    assert set(ids) == set(every_id)  # every line at least once
    share = sum(i.startswith("s") for i in ids) / len(ids)
    assert 0.4 < share < 0.6  # the small dataset repeated up to about half of the lines


def test_a_dataset_can_keep_its_own_text_rules():
    assert list(normalize_texts(lines("s", 2), "bentham")["text"]) == ["a,b", "a,b"]
