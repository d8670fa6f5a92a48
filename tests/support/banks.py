"""Tiny synthetic token banks: glyph lines whose character cells are known exactly."""

from pathlib import Path

import datasets
import numpy as np
from PIL import Image

from augmentations.stackmix import build_bank
from augmentations.stackmix.char_masks import CharMaskReport, save_char_masks

GLYPH_WIDTH = 10
LINE_HEIGHT = 16
BANK_HEIGHT = 20


def glyph_line(text: str) -> np.ndarray:
    """A grayscale line: every character a 10 px cell with an ink block whose grey encodes the character."""
    image = np.full((LINE_HEIGHT, GLYPH_WIDTH * len(text)), 255, dtype=np.uint8)
    for index, char in enumerate(text):
        if char != " ":
            image[4:12, index * GLYPH_WIDTH + 2 : index * GLYPH_WIDTH + 8] = ord(char) % 100
    return image


def write_dataset(folder: Path, texts: list[str], split: str = "train") -> Path:
    """A dataset folder as the builders write it: data/{split}-00000-of-00001.parquet (sample_id, image, text)."""
    features = datasets.Features(
        {"sample_id": datasets.Value("string"), "image": datasets.Image(), "text": datasets.Value("string")}
    )
    rows = {
        "sample_id": [f"line-{index:03d}" for index in range(len(texts))],
        "image": [Image.fromarray(glyph_line(text)) for text in texts],
        "text": texts,
    }
    (folder / "data").mkdir(parents=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


def write_glyph_masks(folder: Path, texts: list[str], split: str = "train", text_rules: str | None = None) -> Path:
    """Char masks with the exact glyph cells as boxes (`texts` as the text rules made them)."""
    rows = [
        {
            "sample_id": f"line-{index:03d}",
            "text": text,
            "boxes": [
                {"label": char, "x1": position * GLYPH_WIDTH, "x2": (position + 1) * GLYPH_WIDTH}
                for position, char in enumerate(text)
            ],
            "score": -0.1,
            "method": "forced",
        }
        for index, text in enumerate(texts)
    ]
    report = CharMaskReport("forced", lines=len(rows), with_boxes=len(rows))
    source = {"model": "synthetic", "dataset": "synthetic"} | ({"text_rules": text_rules} if text_rules else {})
    return save_char_masks(rows, report, folder, split, source)


def make_bank(root: Path, texts: list[str]) -> Path:
    """A bank (at BANK_HEIGHT) built from glyph lines of `texts` with exact char masks, in root/bank."""
    write_dataset(root / "dataset", texts)
    write_glyph_masks(root / "masks", texts)
    build_bank(root / "masks", root / "dataset", root / "bank", height=BANK_HEIGHT)
    return root / "bank"
