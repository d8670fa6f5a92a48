"""On-the-fly training augmentation for `Dataset.with_transform` and `IterableDataset.map(batched=True)`.

Both apply the function lazily, at every access, so random augmentations differ from epoch to epoch
(`Dataset.map` would cache one draw). Randomness is reseeded per (seed, rank, epoch, DataLoader worker)
(`seeding`), so every epoch, worker and process draws differently while a run stays reproducible from one seed.
"""

from collections.abc import Callable

import albumentations as A

from .base import base_transforms, seed_augmentations
from .blots import HandwrittenBlot
from .image_arrays import to_uint8_array
from .seeding import stream_key, stream_seed


def build_train_augmentations(use_augs: bool, use_blots: bool, blot_kwargs: dict | None = None) -> A.Compose | None:
    """The training augmentations: the paper's plain augmentations, then handwritten blots.

    Args:
        use_augs: include CLAHE, rotation and JPEG compression (see `augmentations.base`).
        use_blots: include `HandwrittenBlot(**blot_kwargs)`.
        blot_kwargs: constructor arguments of `HandwrittenBlot` (its defaults are the paper's).

    Returns:
        A Compose, or None when neither is enabled.
    """
    transforms = []
    if use_augs:
        transforms.extend(base_transforms())
    if use_blots:
        transforms.append(HandwrittenBlot(**(blot_kwargs or {})))
    return A.Compose(transforms) if transforms else None


class TrainAugment:
    """Batch transform that augments the image column of a batch, for lazy use by `datasets`.

    Use as `dataset.with_transform(augment)` or `iterable_dataset.map(augment, batched=True)`, and call
    `augment.set_epoch(epoch)` in the main process before iterating each epoch. DataLoader workers receive a
    copy of the dataset when they start; use non-persistent workers (the default) so each epoch's workers
    see the new epoch.

    On each call it converts the images to uint8 arrays (grayscale stays (H, W)), runs `pre_transform` on the
    batch (e.g. StackMix's sample replacement), then the augmentations on every image. Before that it
    reseeds the augmentations whenever (seed, rank, epoch, worker id) differs from the last call.
    `set_epoch` is passed on to `pre_transform` when it has a `set_epoch` method, so a pre-transform that
    seeds itself the same way follows the epochs too.

    Args:
        augmentations: an albumentations transform or Compose, or None for no augmentation.
        seed: the run's seed.
        rank: index of this process among the training processes.
        pre_transform: callable taking the batch dict and returning it, run before the augmentations.
        image_column: name of the column holding the images.
    """

    def __init__(
        self,
        augmentations: A.BasicTransform | A.BaseCompose | None,
        seed: int,
        rank: int = 0,
        pre_transform: Callable[[dict], dict] | None = None,
        image_column: str = "image",
    ):
        if seed < 0 or rank < 0:
            raise ValueError(f"seed and rank must be non-negative, got seed={seed}, rank={rank}")
        if augmentations is not None and not isinstance(augmentations, A.BaseCompose):
            augmentations = A.Compose([augmentations])
        self.augmentations = augmentations
        self.seed = seed
        self.rank = rank
        self.pre_transform = pre_transform
        self.image_column = image_column
        self.epoch = 0
        self._seeded_for = None

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose randomness the next calls draw; setting an epoch again replays it."""
        if epoch < 0:
            raise ValueError(f"epoch must be non-negative, got {epoch}")
        self.epoch = epoch
        self._seeded_for = None
        if hasattr(self.pre_transform, "set_epoch"):
            self.pre_transform.set_epoch(epoch)

    def _reseed_if_needed(self) -> None:
        key = stream_key(self.rank, self.epoch)
        if key == self._seeded_for:
            return
        if self.augmentations is not None:
            seed_augmentations(self.augmentations, stream_seed(self.seed, *key))
        self._seeded_for = key

    def _to_arrays(self, batch: dict) -> None:
        if self.image_column not in batch:
            raise KeyError(f"batch has no column {self.image_column!r}; columns: {sorted(batch)}")
        sample_ids = batch.get("sample_id")
        batch[self.image_column] = [
            to_uint8_array(image, f"sample {sample_ids[i] if sample_ids else i} of the batch")
            for i, image in enumerate(batch[self.image_column])
        ]

    def __call__(self, batch: dict) -> dict:
        """Augment a batch (dict of equal-length lists); returns it with uint8 numpy images."""
        self._reseed_if_needed()
        self._to_arrays(batch)
        if self.pre_transform is not None:
            batch = self.pre_transform(batch)
            self._to_arrays(batch)
        if self.augmentations is not None:
            batch[self.image_column] = [self.augmentations(image=image)["image"] for image in batch[self.image_column]]
        return batch
