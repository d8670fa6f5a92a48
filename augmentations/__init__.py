"""augmentations."""
