"""Training augmentations for handwritten text lines.

Modules (imported on demand, so importing this package stays cheap):
- `augmentations.base`: the paper's plain augmentations (CLAHE, small rotation, JPEG).
- `augmentations.blots`: `HandwrittenBlot`, strike-through scribbles.
- `augmentations.transforms`: `TrainAugment` for lazy use with `datasets`, `build_train_augmentations`.
- `augmentations.preview`: a PNG grid of augmented samples (`python -m augmentations.preview --help`).
"""
