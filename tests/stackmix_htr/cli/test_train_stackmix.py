"""train_accelerate.py with StackMix: no corpus needed, generated lines added to batches after the warm-up."""

import json

import datasets
from PIL import Image
from support.banks import GLYPH_WIDTH, glyph_line
from support.training import TINY_RUN, run_training

from augmentations.stackmix import build_bank
from augmentations.stackmix.char_masks import CharMaskReport, save_char_masks

TEXTS = {
    "train": ["abc abd", "bad cab", "dab", "a cd", "cc dd aa", "cab ad"],
    "validation": ["abc", "dab"],
    "test": ["cd"],
}


def write_splits(folder):
    """A dataset folder (Parquet per split, as the builders write it) of glyph lines."""
    features = datasets.Features(
        {"sample_id": datasets.Value("string"), "image": datasets.Image(), "text": datasets.Value("string")}
    )
    (folder / "data").mkdir(parents=True)
    for split, texts in TEXTS.items():
        rows = {"sample_id": [f"{split}-{i}" for i in range(len(texts))], "text": texts,
                "image": [Image.fromarray(glyph_line(text)) for text in texts]}  # fmt: skip
        datasets.Dataset.from_dict(rows, features=features).to_parquet(
            folder / "data" / f"{split}-00000-of-00001.parquet"
        )
    return folder


def test_stackmix_without_corpus_adds_lines_after_the_start_epoch(tmp_path):
    dataset = write_splits(tmp_path / "dataset")
    masks = [
        {"sample_id": f"train-{i}", "text": text, "score": -0.1, "method": "forced",
         "boxes": [{"label": c, "x1": k * GLYPH_WIDTH, "x2": (k + 1) * GLYPH_WIDTH} for k, c in enumerate(text)]}
        for i, text in enumerate(TEXTS["train"])
    ]  # fmt: skip
    report = CharMaskReport("forced", lines=len(masks), with_boxes=len(masks))
    save_char_masks(masks, report, tmp_path / "masks", "train", {"model": "glyph cells", "dataset": str(dataset)})
    build_bank(tmp_path / "masks", dataset, tmp_path / "bank", height=32)

    output_dir = tmp_path / "run"
    result = run_training(
        "--dataset", dataset, "--output_dir", output_dir, *TINY_RUN, "--num_train_epochs", 3, "--train_batch_size", 3,
        "--stackmix_bank", tmp_path / "bank", "--stackmix_ratio", 1, "--stackmix_start_epoch", 1,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    rows = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    # Epoch 0: the 6 real lines only; from epoch 1 one generated line joins each real one.
    assert [row["train_lines"] for row in rows] == [6, 12, 12]
