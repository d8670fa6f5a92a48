import albumentations as A
import cv2
import datasets
import numpy as np
import pytest
from PIL import Image

from augmentations.base import base_augmentations, base_transforms, seed_augmentations
from augmentations.preview import COLUMNS, GAP, LABEL_HEIGHT, main
from data_builders import InputError


def line_image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Light background with dark blobs, like a text line."""
    rng = np.random.default_rng(seed)
    image = np.full(shape, 235, np.uint8)
    for _ in range(10):
        y, x = rng.integers(4, shape[0] - 4), rng.integers(4, shape[1] - 4)
        image[y - 3 : y + 3, x - 3 : x + 3] = rng.integers(0, 60)
    return image


def forced(transform: A.BasicTransform) -> A.Compose:
    transform.p = 1.0
    return A.Compose([transform], seed=0)


@pytest.mark.parametrize("shape", [(48, 200), (48, 200, 3)])
def test_base_augmentations_keep_shape_and_dtype(shape):
    augment = base_augmentations(seed=0)
    image = line_image(shape)
    for _ in range(10):
        out = augment(image=image)["image"]
        assert out.shape == image.shape
        assert out.dtype == np.uint8


@pytest.mark.parametrize("shape", [(48, 200), (48, 200, 3)])
def test_each_base_transform_changes_a_line(shape):
    image = line_image(shape)
    for transform in base_transforms():
        out = forced(transform)(image=image)["image"]
        assert out.shape == image.shape
        assert not np.array_equal(out, image), type(transform).__name__


def test_rotation_fills_uncovered_corners_with_the_fill_value():
    rotate = next(t for t in base_transforms(fill=255) if isinstance(t, A.Rotate))
    rotate.limit = (3, 3)
    black = np.zeros((100, 400), np.uint8)
    out = forced(rotate)(image=black)["image"]
    assert out[0, -1] == 255 or out[0, 0] == 255
    assert out[50, 200] == 0


def test_same_seed_reproduces_base_augmentations():
    image = line_image((48, 200, 3))
    first, again = base_augmentations(seed=5), base_augmentations(seed=5)
    for _ in range(5):
        assert np.array_equal(first(image=image)["image"], again(image=image)["image"])


def test_seeded_transforms_decide_independently():
    # With one seed per transform, CLAHE (p=0.25) would apply only together with Rotate (p=0.5) on a
    # first call; with shared generators it applies alone in about 1 first call of 8.
    image = line_image((32, 64))
    clahe_without_rotation = 0
    for seed in range(200):
        augment = A.Compose(base_transforms(), save_applied_params=True)
        seed_augmentations(augment, seed)
        applied = {name for name, _ in augment(image=image)["applied_transforms"]}
        clahe_without_rotation += "CLAHE" in applied and "Rotate" not in applied
    assert 5 <= clahe_without_rotation <= 60


def write_built_dataset(root, images):
    data = datasets.Dataset.from_dict(
        {"sample_id": [f"line-{i}" for i in range(len(images))], "image": images, "text": ["a b"] * len(images)}
    ).cast_column("image", datasets.Image())
    (root / "data").mkdir(parents=True)
    data.to_parquet(str(root / "data" / "train-00000-of-00001.parquet"))


def test_preview_writes_a_grid(tmp_path):
    images = [Image.fromarray(line_image((40, 160 + 20 * i), seed=i)) for i in range(3)]
    images[1] = images[1].convert("RGB")
    write_built_dataset(tmp_path / "built", images)
    out = tmp_path / "grids" / "grid.png"
    main(
        ["--dataset", str(tmp_path / "built"), "--output", str(out), "--num", "2", "--row_height", "40", "--seed", "1"]
    )

    grid = cv2.imread(str(out))
    assert grid.shape[0] == LABEL_HEIGHT + 2 * (40 + LABEL_HEIGHT + GAP) + GAP
    assert grid.shape[1] >= len(COLUMNS) * 160
    assert [p.name for p in out.parent.iterdir()] == ["grid.png"]
    # First row (below the header and its own label): the blotted cell differs from the original one.
    # Both rows are 40 px high, so cells keep their size; columns are as wide as the widest line, 180 px.
    top = LABEL_HEIGHT * 2
    original = grid[top : top + 40, GAP : GAP + 160]
    blotted_x = GAP + 2 * (180 + GAP)
    blotted = grid[top : top + 40, blotted_x : blotted_x + 160]
    assert not np.array_equal(original, blotted)


def test_preview_names_a_missing_split(tmp_path):
    write_built_dataset(tmp_path / "built", [Image.fromarray(line_image((40, 160)))])
    with pytest.raises(
        InputError, match=r"no split 'validation'; available: \['train'\]"
    ):  # --out: the former --output
        main(["--dataset", str(tmp_path / "built"), "--out", str(tmp_path / "g.png"), "--split", "validation"])
