"""The paper's plain augmentations ("augs"): CLAHE, a small rotation and JPEG compression.

All three work on uint8 grayscale (H, W) and RGB (H, W, 3) line images and keep shape and dtype.
"""

import random

import albumentations as A
import cv2
import numpy as np

WHITE = 255


def base_transforms(fill: float = WHITE) -> list[A.BasicTransform]:
    """The paper's plain augmentations as a list, for composing with other transforms.

    Args:
        fill: value of the pixels the rotation uncovers at the corners. The reference pads with black, but
            our line images are dark ink on a light background, so the default is white (255): the uncovered
            corners then look like paper instead of adding black wedges that the recognizer could read as ink.
            Pass 0 for light-on-dark images.
    """
    return [
        # clip_limit=4 means a clip limit drawn from [1, 4], as in the reference.
        A.CLAHE(clip_limit=4.0, tile_grid_size=(8, 8), p=0.25),
        A.Rotate(limit=3, border_mode=cv2.BORDER_CONSTANT, fill=fill, p=0.5),
        A.ImageCompression(compression_type="jpeg", quality_range=(75, 100), p=0.5),
    ]


def base_augmentations(fill: float = WHITE, seed: int | None = None) -> A.Compose:
    """The paper's plain augmentations as an albumentations Compose.

    Args:
        fill: rotation border value, see `base_transforms`.
        seed: seed of the Compose's own random state (None: drawn from the OS).

    Returns:
        A Compose taking `image=` uint8 (H, W) or (H, W, 3) and returning it augmented, same shape and dtype.
    """
    return A.Compose(base_transforms(fill), seed=seed)


def seed_augmentations(augmentations: A.BaseCompose, seed: int) -> None:
    """Seed every transform of `augmentations` from one shared pair of generators derived from `seed`.

    `Compose.set_random_seed` gives each transform its own generator with the same seed, so the transforms
    would draw the same numbers and their "apply or not" decisions would be correlated.
    """
    augmentations.set_random_state(np.random.default_rng(seed), random.Random(seed))
