"""Trained-looking checkpoints to start from: tiny recognizers with random weights, saved with a processor."""

import torch

from modeling_stackmix_htr import StackMixHTRConfig, StackMixHTRForCTC, StackMixHTRProcessor

OLD_TEXTS = ["abc d", "dcba"]


def save_checkpoint(folder, num_channels=3, texts=OLD_TEXTS, **config_overrides):
    """A tiny recognizer with random weights (head bias too, so rows differ), saved with its processor."""
    processor = StackMixHTRProcessor.from_texts(texts, image_height=32, max_width=256, num_channels=num_channels)
    torch.manual_seed(0)
    config = StackMixHTRConfig.from_preset(
        "tiny", vocab_size=processor.vocab_size, num_channels=num_channels, **config_overrides
    )
    model = StackMixHTRForCTC(config)
    with torch.no_grad():
        model.head[-1].bias.normal_()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return model.eval(), processor
