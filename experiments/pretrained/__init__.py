"""The recipes of the recognizers that ship with the project (stackmix_htr/pretrained/) and the step that
puts a trained checkpoint there with its model card (`python -m experiments.pretrained.ship`)."""
