"""Small untrained recognizers for inference tests."""

from pathlib import Path

import torch

from modeling_stackmix_htr import StackMixHTRConfig, StackMixHTRForCTC, StackMixHTRProcessor


def scramble(model: StackMixHTRForCTC, seed: int = 0) -> StackMixHTRForCTC:
    """Large random BiLSTM and head weights: an untrained model then reads different lines as
    different texts (a freshly initialised one reads nearly everything alike), so comparisons of
    recognised texts have substance."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(("lstm", "head")) and parameter.ndim > 1:
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model.eval()


def make_checkpoint(
    folder: Path, texts=("abcdefghij klmnopqrst uvwxyz ,.",), preset: str = "tiny", **image_processor
) -> Path:
    """A scrambled model of `preset` with a processor whose vocabulary is the characters of `texts`."""
    processor = StackMixHTRProcessor.from_texts(
        list(texts), **{"image_height": 32, "max_width": 256, **image_processor}
    )
    torch.manual_seed(0)
    model = scramble(StackMixHTRForCTC(StackMixHTRConfig.from_preset(preset, vocab_size=processor.vocab_size)))
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
