"""Preview the training augmentations on a built dataset as a PNG grid.

Rows are samples; columns show the original line, the plain augmentations and the handwritten blots. Each
transform is forced on (p=1) so that every cell shows its effect.

    python -m augmentations.preview --dataset data/saintgall --output grid.png --num 8
"""

import argparse
import sys
from pathlib import Path

import albumentations as A
import cv2
import numpy as np

from data_builders.loading import load_dataset_folder_or_hub
from stackmix_htr.common.errors import InputError, run_command
from stackmix_htr.common.flags import with_current_spellings

from .base import base_transforms, seed_augmentations
from .blots import HandwrittenBlot
from .image_arrays import save_png, to_uint8_array

OLD_SPELLINGS = {"--out": "--output", "--n": "--num", "--height": "--row_height"}
COLUMNS = ("original", "base augs", "blots")
BACKGROUND = 200
GAP = 8
LABEL_HEIGHT = 18
FONT = cv2.FONT_HERSHEY_SIMPLEX


def forced_pipelines(seed: int) -> list[A.Compose]:
    """One pipeline per augmented column, every transform with p=1, seeded from `seed`."""
    base = base_transforms()
    for transform in base:
        transform.p = 1.0
    pipelines = [A.Compose(base), A.Compose([HandwrittenBlot(p=1.0)])]
    for index, pipeline in enumerate(pipelines):
        seed_augmentations(pipeline, seed + index)
    return pipelines


def fit_row(image: np.ndarray, height: int, max_width: int) -> np.ndarray:
    """`image` as RGB uint8 scaled to `height` rows, or narrower still so that it is at most `max_width` wide."""
    rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image[..., :3]
    scale = min(height / rgb.shape[0], max_width / rgb.shape[1])
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def put_label(canvas: np.ndarray, text: str, x: int, y: int) -> None:
    cv2.putText(canvas, text, (x, y + LABEL_HEIGHT - 5), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)


def render_grid(rows: list[list[np.ndarray]], row_labels: list[str], column_labels: tuple[str, ...]) -> np.ndarray:
    """Lay out RGB cells (rows of equal length) with a header of column labels and a label above each row.

    Returns:
        uint8 array (H, W, 3).
    """
    column_widths = [max(row[c].shape[1] for row in rows) for c in range(len(column_labels))]
    row_heights = [max(cell.shape[0] for cell in row) for row in rows]
    width = sum(column_widths) + GAP * (len(column_widths) + 1)
    height = LABEL_HEIGHT + sum(h + LABEL_HEIGHT + GAP for h in row_heights) + GAP
    canvas = np.full((height, width, 3), BACKGROUND, np.uint8)

    column_x = np.cumsum([GAP] + [w + GAP for w in column_widths[:-1]])
    for x, label in zip(column_x, column_labels):
        put_label(canvas, label, int(x), 0)
    y = LABEL_HEIGHT
    for row, label, row_height in zip(rows, row_labels, row_heights):
        put_label(canvas, label, GAP, y)
        y += LABEL_HEIGHT
        for x, cell in zip(column_x, row):
            canvas[y : y + cell.shape[0], x : x + cell.shape[1]] = cell
        y += row_height + GAP
    return canvas


def preview(
    dataset_dir: str,
    out: Path,
    n: int = 8,
    split: str = "train",
    seed: int = 0,
    height: int = 64,
    max_width: int = 1024,
) -> np.ndarray:
    """Render the first `n` samples of `split` of the built dataset at `dataset_dir` into `out`; returns the grid."""
    data = load_dataset_folder_or_hub(dataset_dir, split=split)
    samples = data.select(range(min(n, len(data))))
    if "image" not in samples.column_names:
        raise InputError(f"{dataset_dir} split {split!r} has no 'image' column; columns: {samples.column_names}")

    pipelines = forced_pipelines(seed)
    rows, labels = [], []
    for index, sample in enumerate(samples):
        label = str(sample.get("sample_id", index))
        image = to_uint8_array(sample["image"], f"{dataset_dir} split {split!r} sample {label}")
        cells = [image] + [pipeline(image=image)["image"] for pipeline in pipelines]
        rows.append([fit_row(cell, height, max_width) for cell in cells])
        labels.append(label)
    if not rows:
        raise InputError(f"{dataset_dir} split {split!r} is empty")
    grid = render_grid(rows, labels, COLUMNS)
    save_png(out, grid)
    return grid


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="built dataset folder (Parquet shards + README.md)")
    parser.add_argument("--output", type=Path, default=Path("augmentations_preview.png"), help="PNG to write")
    parser.add_argument("--num", type=int, default=8, help="number of samples (rows)")
    parser.add_argument("--split", default="train", help="dataset split to sample from")
    parser.add_argument("--seed", type=int, default=0, help="seed of the augmentations")
    parser.add_argument("--row_height", type=int, default=64, help="row height of the grid in pixels")
    parser.add_argument("--max_width", type=int, default=1024, help="widest cell in pixels")
    args = parser.parse_args(with_current_spellings(argv, OLD_SPELLINGS))
    preview(args.dataset, args.output, args.num, args.split, args.seed, args.row_height, args.max_width)
    print(f"wrote {args.output}")


def run(argv=None) -> int:
    """The console script: bad input is reported as one line on stderr with exit status 2."""
    return run_command(main, argv)


if __name__ == "__main__":
    sys.exit(run())
