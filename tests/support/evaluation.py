"""Checkpoints and dataset folders for the evaluation tests: tiny random recognizers and Parquet splits."""

from pathlib import Path

import datasets
import numpy as np
import torch
from PIL import Image

from modeling_stackmix_htr import StackMixHTRConfig, StackMixHTRForCTC, StackMixHTRProcessor

# The checkpoints' vocabulary comes from TRAIN_TEXTS; some characters of TEST_TEXTS are not in it.
TRAIN_TEXTS = ["Dominus vobiscum", "et cum spiritu tuo.", "Amen, amen"]


TEST_TEXTS = ["Dominus vobiscum", "et cum spiritu tuo.", "Amen ж", "ж Quid?", "amen,  AMEN", "a", "A."]


def write_parquet_dataset(folder: Path, texts: list[str], split: str = "test") -> Path:
    """A dataset folder laid out as push_to_hub writes it: data/<split>-00000-of-00001.parquet."""
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (24, 40 + 12 * len(text)), dtype=np.uint8)) for text in texts]
    dataset = datasets.Dataset.from_dict(
        {"sample_id": [f"line-{i:02d}" for i in range(len(texts))], "image": images, "text": texts}
    ).cast_column("image", datasets.Image())
    (folder / "data").mkdir(parents=True, exist_ok=True)
    dataset.to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    return folder


def write_checkpoint(folder: Path, seed: int, constant_char: str | None = None) -> Path:
    """A random tiny checkpoint; with `constant_char` its output layer always picks that character,
    so every line is transcribed as exactly `constant_char`."""
    processor = StackMixHTRProcessor.from_texts(TRAIN_TEXTS)
    config = StackMixHTRConfig.from_preset("tiny", vocab_size=processor.vocab_size)
    processor = StackMixHTRProcessor.from_texts(
        TRAIN_TEXTS, image_height=config.image_height, max_width=config.max_width, num_channels=config.num_channels
    )
    torch.manual_seed(seed)
    model = StackMixHTRForCTC(config)
    if constant_char is not None:
        output_layer = [module for module in model.modules() if isinstance(module, torch.nn.Linear)][-1]
        with torch.no_grad():
            output_layer.weight.zero_()
            output_layer.bias.zero_()
            output_layer.bias[processor.tokenizer.convert_tokens_to_ids(constant_char)] = 10.0
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
