"""StackMix generation speed: our in-memory generator against the reference implementation's approach.

    python bench/stackmix.py [--saint_gall ../shared/datasets/saintgalldb-v1.0]
                             [--corpus ../shared/corpora/latin_ecclesiastical.txt] [--work_dir DIR]

Steps: build Saint Gall with data_builders, compute char masks (forced alignment) with an
untrained tiny model (every line gets boxes, which is all a speed test needs; pass
--char_masks to reuse real ones), then for a bank of the first 200 lines and of all train
lines: build our bank, write the same slices in the reference layout, and render the same
corpus texts with both generators.

The reference approach (ai-forever/StackMix-OCR), rewritten here as a baseline:
- the bank is one PNG file per slice; a pandas DataFrame maps token -> slice paths;
- per sample, one of six nltk MWETokenizers (longest token 3..8, drawn with the paper's
  weights) splits the text; every token's presence is checked by a linear scan of the
  array of known tokens;
- per token, the DataFrame is queried (`.loc`), a random path is drawn and read with
  cv2.imread; the image grows by allocating a new array per stacked slice;
- background smoothing (p=0.1) averages column windows in Python loops.
Prints bank build time, images/s of both, and `speedup_vs_reference=X` for the full bank.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
MAX_LENGTH_CHOICES = (3, 4, 5, 6, 7, 8)
MAX_LENGTH_WEIGHTS = (0.05, 0.15, 0.20, 0.20, 0.20, 0.20)


class ReferenceStackMix:
    """The reference approach: per-slice PNG files, pandas lookups, nltk MWE tokenizers."""

    def __init__(self, slice_table, p_smoothing: float = 0.1, window: int = 32):
        import pandas as pd
        from nltk.tokenize import MWETokenizer

        data = pd.DataFrame(slice_table)
        self.token2path = data[["text", "path"]].groupby("text").agg(list)
        self.path2leftx = data[["path", "left_x"]].set_index("path")
        self.all_tokens = data["text"].unique()
        self.tokenizers = {
            length: MWETokenizer(mwes=sorted(t for t in self.all_tokens if len(t) <= length), separator="")
            for length in MAX_LENGTH_CHOICES
        }
        self.p_smoothing, self.window = p_smoothing, window

    def generate(self, text: str) -> np.ndarray | None:
        length = random.choices(MAX_LENGTH_CHOICES, weights=MAX_LENGTH_WEIGHTS, k=1)[0]
        tokens = self.tokenizers[length].tokenize(text)
        if any(token not in self.all_tokens for token in tokens):  # linear scan, as the reference does
            return None
        image = None
        for token in tokens:
            path = random.choice(self.token2path.loc[token]["path"])
            piece = cv2.imread(path)
            _ = self.path2leftx.loc[path]["left_x"]
            if image is None:
                image = piece
                continue
            stacked = np.full((image.shape[0], image.shape[1] + piece.shape[1] - 1, 3), 255, dtype=np.uint16)
            stacked[:, : image.shape[1]] = image
            stacked[:, -piece.shape[1] :] = piece
            image = np.clip(stacked, 0, 255).astype(np.uint8)
        if random.random() < self.p_smoothing:
            image = self._smooth(image)
        return image

    def _smooth(self, image: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        mask = cv2.inRange(hsv, np.array([2, 2, 160], np.uint8), np.array([64, 255, 255], np.uint8)).astype(bool)
        light = np.full(image.shape, 255, dtype=np.uint8)
        light[mask] = image[mask]
        steps = image.shape[1] // self.window
        parts = [light[:, i * self.window : (i + 1) * self.window] for i in range(steps)]
        background = np.zeros(image.shape, dtype=np.uint8)
        for i in range(steps):
            total = np.zeros(parts[0].shape, dtype=np.float32)
            for j in range(i - steps, i):
                total += parts[j]
            background[:, i * self.window : (i + 1) * self.window] = np.clip(total / steps, 0, 255).astype(np.uint8)
        out = image.copy()
        out[mask] = background[mask]
        return out


def write_reference_bank(bank, folder: Path) -> list[dict]:
    """Write every slice of our bank as its own PNG (the reference layout); return the slice table."""
    table = []
    for token_index, (token, slices) in enumerate(bank.slices.items()):
        token_dir = folder / f"{token_index}"
        token_dir.mkdir(parents=True)
        for count, (line_index, x1, x2) in enumerate(slices):
            path = str(token_dir / f"{count}.png")
            cv2.imwrite(path, cv2.cvtColor(bank.slice_image(line_index, x1, x2), cv2.COLOR_GRAY2BGR))
            table.append({"text": token, "path": path, "left_x": int(x1)})
    return table


def images_per_second(generate, texts: list[str]) -> tuple[float, int]:
    start, made = time.perf_counter(), 0
    for text in texts:
        made += generate(text) is not None
    return len(texts) / (time.perf_counter() - start), made


def make_char_masks(dataset: Path, out: Path) -> None:
    import torch

    import modeling_stackmix_htr as htr
    from augmentations.stackmix.char_masks import compute_char_masks, save_char_masks
    from data_builders import load_dataset_folder_or_hub

    train = load_dataset_folder_or_hub(dataset, split="train")
    processor = htr.StackMixHTRProcessor.from_texts(train["text"], text_rules="saintgall")
    torch.manual_seed(0)
    model = htr.StackMixHTRForCTC(htr.StackMixHTRConfig.from_preset("tiny", vocab_size=processor.vocab_size))
    start = time.perf_counter()
    rows, report = compute_char_masks(model, processor, train, method="forced", batch_size=16)
    print(f"char masks: {report.summary()} in {time.perf_counter() - start:.1f} s")
    source = {"model": "untrained tiny", "dataset": str(dataset), "text_rules": processor.text_rules}
    save_char_masks(rows, report, out, "train", source)


def subset_char_masks(char_masks: Path, count: int, out: Path) -> None:
    from augmentations.stackmix.char_masks import CharMaskReport, save_char_masks
    from data_builders.loading import read_split

    rows = read_split(char_masks, "train").to_pylist()[:count]
    report = CharMaskReport("forced", lines=len(rows), with_boxes=len(rows))
    source = {"model": "subset", "dataset": str(char_masks), "text_rules": "saintgall"}
    save_char_masks(rows, report, out, "train", source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saint_gall", type=Path, default=SHARED / "datasets" / "saintgalldb-v1.0")
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpora" / "latin_ecclesiastical.txt")
    parser.add_argument("--char_masks", type=Path, default=None, help="reuse a char-masks folder of Saint Gall train")
    parser.add_argument("--work_dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--num_texts", type=int, default=1000, help="texts rendered by our generator")
    parser.add_argument("--num_reference_texts", type=int, default=100, help="texts rendered by the reference")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import data_builders
    from augmentations.stackmix import StackMixGenerator, build_bank, load_corpus

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="stackmix-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    dataset = work / "saintgall"
    if not dataset.exists():
        data_builders.build("saintgall", args.saint_gall, dataset, skip_invalid=True, progress=False)
    char_masks = args.char_masks or work / "char_masks"
    if not char_masks.exists():
        make_char_masks(dataset, char_masks)

    speedup = None
    for name, count in (("200 lines", 200), ("all train lines", None)):
        masks = char_masks
        if count is not None:
            masks = work / f"char_masks_{count}"
            if not masks.exists():
                subset_char_masks(char_masks, count, masks)
        bank_dir = work / f"bank_{count or 'all'}"
        start = time.perf_counter()
        info = build_bank(masks, dataset, bank_dir, overwrite=True)
        build_seconds = time.perf_counter() - start
        start = time.perf_counter()
        generator = StackMixGenerator.from_bank(bank_dir, seed=args.seed)
        load_seconds = time.perf_counter() - start
        corpus = load_corpus(args.corpus, generator.characters)
        rng = np.random.default_rng(args.seed)
        texts = [corpus.sample(rng) for _ in range(args.num_texts)]

        reference_dir = work / f"reference_{count or 'all'}"
        start = time.perf_counter()
        if reference_dir.exists():
            shutil.rmtree(reference_dir)
        slice_table = write_reference_bank(generator.bank, reference_dir)
        reference_write_seconds = time.perf_counter() - start
        start = time.perf_counter()
        random.seed(args.seed)
        reference = ReferenceStackMix(slice_table)
        reference_load_seconds = time.perf_counter() - start

        ours, ours_made = images_per_second(generator.generate, texts)
        theirs, theirs_made = images_per_second(reference.generate, texts[: args.num_reference_texts])
        print(
            f"[{name}] bank: {info['num_lines']} lines, {info['num_slices']} slices, {info['num_tokens']} tokens; "
            f"build {build_seconds:.2f} s (reference-layout PNG files: {reference_write_seconds:.1f} s); "
            f"load ours {load_seconds:.2f} s, reference {reference_load_seconds:.1f} s"
        )
        print(
            f"[{name}] images/s: ours {ours:.1f} ({ours_made}/{len(texts)} rendered), "
            f"reference {theirs:.2f} ({theirs_made}/{min(len(texts), args.num_reference_texts)} rendered); "
            f"speedup {ours / theirs:.1f}x"
        )
        speedup = ours / theirs
    print(f"speedup_vs_reference={speedup:.1f}")


if __name__ == "__main__":
    sys.exit(main())
