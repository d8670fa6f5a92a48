import pickle

import albumentations as A
import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from augmentations.blots import HandwrittenBlot
from augmentations.transforms import TrainAugment, build_train_augmentations

NUM_SAMPLES = 8


def white_lines_dataset(mode: str = "L") -> datasets.Dataset:
    """Identical white lines, so any difference between outputs comes from the augmentations."""
    images = [Image.new(mode, (120, 32), "white") for _ in range(NUM_SAMPLES)]
    return datasets.Dataset.from_dict(
        {"sample_id": [f"line-{i}" for i in range(NUM_SAMPLES)], "image": images}
    ).cast_column("image", datasets.Image())


def always_blot(seed: int = 0, rank: int = 0, pre_transform=None) -> TrainAugment:
    return TrainAugment(build_train_augmentations(False, True, {"p": 1.0}), seed, rank, pre_transform)


def iterate(dataset, num_workers: int) -> list[np.ndarray]:
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=num_workers, collate_fn=list)
    return [sample["image"] for batch in loader for sample in batch]


def test_build_train_augmentations_order_and_switches():
    assert build_train_augmentations(False, False) is None
    both = build_train_augmentations(True, True, {"count": (2, 2)})
    names = [type(t).__name__ for t in both.transforms]
    assert names == ["CLAHE", "Rotate", "ImageCompression", "HandwrittenBlot"]
    assert both.transforms[-1].count == (2, 2)
    assert [type(t).__name__ for t in build_train_augmentations(False, True).transforms] == ["HandwrittenBlot"]


@pytest.mark.parametrize(
    ("mode", "shape"), [("L", (32, 120)), ("1", (32, 120)), ("RGB", (32, 120, 3)), ("RGBA", (32, 120, 3))]
)
def test_images_become_uint8_arrays_following_the_mode(mode, shape):
    item = white_lines_dataset(mode).with_transform(always_blot())[0]
    assert isinstance(item["image"], np.ndarray)
    assert item["image"].shape == shape and item["image"].dtype == np.uint8
    assert (item["image"] < 255).any()
    assert item["sample_id"] == "line-0"


def test_no_augmentations_only_converts():
    item = white_lines_dataset().with_transform(TrainAugment(None, seed=0))[0]
    assert np.array_equal(item["image"], np.full((32, 120), 255, np.uint8))


def test_same_seed_reproduces_and_epochs_ranks_seeds_differ():
    dataset = white_lines_dataset()

    def draw(seed=0, rank=0, epoch=0):
        augment = always_blot(seed, rank)
        augment.set_epoch(epoch)
        return dataset.with_transform(augment)[:4]["image"]

    reference = draw()
    assert all(np.array_equal(a, b) for a, b in zip(reference, draw()))
    for other in (draw(epoch=1), draw(rank=1), draw(seed=1)):
        assert not any(np.array_equal(a, b) for a, b in zip(reference, other))
    # Samples within a batch differ too.
    assert not np.array_equal(reference[0], reference[1])


def test_setting_an_epoch_again_replays_it():
    augment = always_blot()
    dataset = white_lines_dataset().with_transform(augment)
    first = dataset[0]["image"]
    assert not np.array_equal(dataset[0]["image"], first)  # the stream moves on within an epoch
    augment.set_epoch(0)
    assert np.array_equal(dataset[0]["image"], first)


def test_dataloader_workers_and_epochs_draw_differently_and_reproducibly():
    augment = always_blot(seed=3)
    dataset = white_lines_dataset().with_transform(augment)
    epochs = []
    for epoch in (0, 1):
        augment.set_epoch(epoch)
        epochs.append(iterate(dataset, num_workers=2))
    # Batches alternate between the two workers: samples 0-1 come from worker 0, 2-3 from worker 1.
    # Each is its worker's first draw, so equal outputs would mean the workers share a stream.
    assert not np.array_equal(epochs[0][0], epochs[0][2])
    assert not any(np.array_equal(a, b) for a, b in zip(epochs[0], epochs[1]))

    augment.set_epoch(0)
    again = iterate(white_lines_dataset().with_transform(always_blot(seed=3)), num_workers=2)
    assert all(np.array_equal(a, b) for a, b in zip(epochs[0], again))
    # Without workers the main process draws from yet another stream.
    assert not np.array_equal(iterate(dataset, num_workers=0)[0], epochs[0][0])


def test_iterable_dataset_map_path():
    augment = always_blot(seed=4)
    stream = white_lines_dataset().to_iterable_dataset(num_shards=2).map(augment, batched=True, batch_size=2)
    images = iterate(stream, num_workers=2)
    assert len(images) == NUM_SAMPLES
    assert all(image.shape == (32, 120) and image.dtype == np.uint8 for image in images)
    assert all((image < 255).any() for image in images)
    assert len({image.tobytes() for image in images}) == NUM_SAMPLES
    augment.set_epoch(1)
    next_epoch = iterate(stream, num_workers=2)
    assert not any(np.array_equal(a, b) for a, b in zip(images, next_epoch))


class DarkenFirstSample:
    """Stand-in for a sample-replacing pre-transform: replaces the first image with a grey one."""

    def __init__(self):
        self.epochs = []
        self.seen_types = set()

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)

    def __call__(self, batch: dict) -> dict:
        self.seen_types.update(type(image) for image in batch["image"])
        batch["image"][0] = Image.new("L", (50, 20), 128)
        return batch


def test_pre_transform_runs_before_augmentations_and_follows_epochs():
    pre_transform = DarkenFirstSample()
    augment = always_blot(pre_transform=pre_transform)
    dataset = white_lines_dataset().with_transform(augment)
    images = dataset[:2]["image"]
    assert pre_transform.seen_types == {np.ndarray}
    assert images[0].shape == (20, 50) and (images[0] < 128).any()  # replaced, then blotted
    assert images[1].shape == (32, 120)
    augment.set_epoch(1)
    assert pre_transform.epochs == [1]


def test_single_transform_is_wrapped_and_picklable():
    augment = TrainAugment(HandwrittenBlot(p=1.0), seed=2)
    restored = pickle.loads(pickle.dumps(augment))
    batch = {"image": [np.full((32, 80), 255, np.uint8)]}
    assert np.array_equal(augment(dict(batch))["image"][0], restored(dict(batch))["image"][0])


def test_bad_image_names_the_sample():
    augment = TrainAugment(None, seed=0)
    with pytest.raises(ValueError, match="line-7"):
        augment({"sample_id": ["line-7"], "image": [np.zeros((4, 4), np.float32)]})
    with pytest.raises(KeyError, match="pixels"):
        TrainAugment(None, seed=0, image_column="pixels")({"image": []})


def test_seed_and_rank_must_be_non_negative():
    with pytest.raises(ValueError, match="rank"):
        TrainAugment(A.Compose([]), seed=0, rank=-1)
