"""Benchmark: our vectorised handwritten blots against augmixations' `HandWrittenBlot`.

Both draw blots with the paper's parameters (1-10 blots, rectangles 50-100 x 20-100 px, incline 10-50 px,
intensity 0.75, transparency 0.05-0.4) on the same line images resized to height 128, as in training.
augmixations is called the way the reference StackMix-OCR code calls it: one instance per blot count,
one chosen at random per image. Prints ms/image for both, for our plain augmentations, and last
`speedup_vs_augmixations=X`.

    pip install "augmixations==0.1.2" bezier   # 0.1.x is the last release that ships HandWrittenBlot
    python bench/blots.py --images_dir ../shared/datasets/saintgalldb-v1.0/data/line_images_normalized
"""

import argparse
import random
import time
from pathlib import Path

import albumentations as A
import cv2
import numpy as np

from augmentations.base import base_augmentations
from augmentations.blots import HandwrittenBlot
from stackmix_htr.common.flags import with_current_spellings

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = REPO_ROOT.parent / "shared" / "datasets" / "saintgalldb-v1.0" / "data" / "line_images_normalized"
LINE_HEIGHT = 128
MAX_BLOTS = 10


def load_lines(images_dir: Path, n: int, seed: int) -> tuple[list[np.ndarray], str]:
    """Up to `n` RGB line images at height 128: the first ones of `images_dir`, else synthetic scribbled lines."""
    paths = sorted(images_dir.glob("*.png"))[:n] if images_dir.is_dir() else []
    if paths:
        images = []
        for path in paths:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR_RGB)
            if image is None:
                raise ValueError(f"{path}: not a readable image")
            images.append(image)
        source = f"{len(images)} images from {images_dir}"
    else:
        rng = np.random.default_rng(seed)
        images = []
        for _ in range(n):
            image = np.full((LINE_HEIGHT, int(rng.integers(1000, 2000)), 3), 255, np.uint8)
            points = rng.integers((0, 30), (image.shape[1], 100), (300, 2)).astype(np.int32)
            cv2.polylines(image, [points.reshape(-1, 1, 2)], False, (30, 30, 30), 2)
            images.append(image)
        source = f"{n} synthetic lines ({images_dir} not found)"
    resized = [
        cv2.resize(image, (max(1, round(image.shape[1] * LINE_HEIGHT / image.shape[0])), LINE_HEIGHT))
        for image in images
    ]
    return resized, source


def ms_per_image(apply, images: list[np.ndarray], repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        for image in images:
            apply(image)
    return (time.perf_counter() - start) * 1000 / (repeats * len(images))


def augmixations_blot():
    """A callable drawing 1-10 blots with augmixations, or the reason it is unavailable."""
    try:
        from augmixations import HandWrittenBlot
    except ImportError as error:
        return None, f"augmixations with HandWrittenBlot is not installed ({error})"

    by_count = [
        HandWrittenBlot(
            {"x": (None, None), "y": (None, None), "h": (50, 100), "w": (20, 100)},
            {"incline": (10, 50), "intensivity": (0.75, 0.75), "transparency": (0.05, 0.4), "count": count},
        )
        for count in range(1, MAX_BLOTS + 1)
    ]
    return (lambda image: random.choice(by_count)(image)), None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images_dir", type=Path, default=DEFAULT_IMAGES, help="folder of line PNGs")
    parser.add_argument("--num", type=int, default=50, help="number of line images")
    parser.add_argument("--repeats", type=int, default=5, help="passes over the images for our transforms")
    parser.add_argument("--reference_repeats", type=int, default=1, help="passes for augmixations (slow)")
    parser.add_argument("--seed", type=int, default=6955)
    args = parser.parse_args(with_current_spellings(None, {"--n": "--num"}))

    cv2.setNumThreads(1)
    images, source = load_lines(args.images_dir, args.num, args.seed)
    widths = [image.shape[1] for image in images]
    print(f"lines: {source}, height {LINE_HEIGHT}, width {min(widths)}-{max(widths)} (mean {np.mean(widths):.0f})")

    ours = A.Compose([HandwrittenBlot(count=(1, MAX_BLOTS), p=1.0)], seed=args.seed)
    ours_ms = ms_per_image(lambda image: ours(image=image), images, args.repeats)
    print(f"ours HandwrittenBlot (p=1): {ours_ms:.2f} ms/image")

    base = base_augmentations(seed=args.seed)
    base_ms = ms_per_image(lambda image: base(image=image), images, args.repeats)
    print(f"base augs (CLAHE, rotate, JPEG at training p): {base_ms:.2f} ms/image")

    reference, reason = augmixations_blot()
    if reference is None:
        print(f"augmixations: skipped, {reason}")
        print("speedup_vs_augmixations=n/a")
        return
    random.seed(args.seed)
    np.random.seed(args.seed)
    reference_ms = ms_per_image(reference, images, args.reference_repeats)
    print(f"augmixations HandWrittenBlot: {reference_ms:.2f} ms/image")
    print(f"speedup_vs_augmixations={reference_ms / ours_ms:.1f}")


if __name__ == "__main__":
    main()
