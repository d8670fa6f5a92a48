"""Training-only helpers for `train_accelerate.py`: batching, start-up data checks,
checkpoint writing, stop signals and metric logs. The model, data builders, augmentations
and metrics live in their own packages; nothing here is needed at inference time."""
