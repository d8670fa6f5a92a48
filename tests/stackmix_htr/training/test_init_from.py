"""Starting from a trained recognizer: the output layer mapped onto new characters, the stem
converted between gray and RGB, and what cannot be mapped refused with a clear message."""

import numpy as np
import pytest
import torch
from support.checkpoints import OLD_TEXTS, save_checkpoint

from modeling_stackmix_htr import StackMixHTRProcessor
from stackmix_htr.training.init_from import InitFromError, start_from_pretrained


def gray_line(width=120, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (32, width), dtype=np.uint8)


@torch.no_grad()
def logits(model, processor, image) -> torch.Tensor:
    return model.eval()(**processor(images=[image])).logits[0]


@pytest.mark.parametrize("mode", ["union", "new"])
def test_shared_characters_keep_their_logits_before_any_step(tmp_path, mode):
    old_model, old_processor = save_checkpoint(tmp_path / "trained")
    new_texts = ["abx e", "xe ba"]  # drops c and d, adds e and x
    start = start_from_pretrained(str(tmp_path / "trained"), new_texts, vocab_resize=mode)
    old_vocab, new_vocab = old_processor.tokenizer.get_vocab(), start.processor.tokenizer.get_vocab()
    assert {"e", "x"} <= set(new_vocab)

    image = gray_line()
    before, after = logits(old_model, old_processor, image), logits(start.model, start.processor, image)
    shared = [token for token in new_vocab if token in old_vocab]
    assert {"<pad>", "<unk>", " ", "a", "b"} <= set(shared)
    torch.testing.assert_close(
        after[:, [new_vocab[t] for t in shared]], before[:, [old_vocab[t] for t in shared]], rtol=0, atol=1e-6
    )
    if mode == "union":  # old ids unchanged, new characters appended
        assert all(new_vocab[token] == index for token, index in old_vocab.items())
        assert sorted(new_vocab.values())[len(old_vocab) :] == [new_vocab["e"], new_vocab["x"]]
    else:  # only the data's characters, ordered as a fresh run orders them
        fresh = StackMixHTRProcessor.from_texts(new_texts).tokenizer.get_vocab()
        assert new_vocab == fresh and "c" not in new_vocab and "d" not in new_vocab
    assert any("2 new ('e' (U+0065), 'x' (U+0078))" in note for note in start.notes)


def test_keep_refuses_unknown_characters_and_lists_them(tmp_path):
    save_checkpoint(tmp_path / "trained")
    with pytest.raises(InitFromError, match=r"lacks 2 character\(s\) of the data: 'y' \(U\+0079\), 'z' \(U\+007A\)"):
        start_from_pretrained(str(tmp_path / "trained"), ["abc", "zy a"], vocab_resize="keep")
    start = start_from_pretrained(str(tmp_path / "trained"), ["cab"], vocab_resize="keep")
    assert start.processor.tokenizer.get_vocab() == StackMixHTRProcessor.from_texts(OLD_TEXTS).tokenizer.get_vocab()


@pytest.mark.parametrize("old_channels,new_channels", [(3, 1), (1, 3)])
def test_the_stem_conversion_keeps_what_a_gray_line_gives(tmp_path, old_channels, new_channels):
    old_model, old_processor = save_checkpoint(tmp_path / "trained", num_channels=old_channels)
    start = start_from_pretrained(str(tmp_path / "trained"), OLD_TEXTS, num_channels=new_channels)
    assert start.model.config.num_channels == new_channels
    assert start.processor.image_processor.num_channels == new_channels
    assert any(f"stem converted from {old_channels} to {new_channels}" in note for note in start.notes)
    image = gray_line(seed=3)  # the RGB processor replicates it to three equal channels
    torch.testing.assert_close(
        logits(start.model, start.processor, image), logits(old_model, old_processor, image), rtol=0, atol=1e-5
    )


def test_another_architecture_or_a_height_its_pooling_cannot_take_is_refused(tmp_path):
    save_checkpoint(tmp_path / "trained")
    with pytest.raises(InitFromError, match=r"--model_preset small does not match .*stage_channels \[8, 16, 32\] vs"):
        start_from_pretrained(str(tmp_path / "trained"), OLD_TEXTS, preset="small")
    assert start_from_pretrained(str(tmp_path / "trained"), OLD_TEXTS, preset="tiny", image_height=32).model
    # Pooled to 16 features from 32 channels x 4 rows: each feature mixes two channels' rows of a 32 px line.
    save_checkpoint(tmp_path / "mixing", sequence_features=16)
    with pytest.raises(
        InitFromError, match=r"--image_height 64 differs from the line height of --init_from .* \(32 px\), and its"
    ):
        start_from_pretrained(str(tmp_path / "mixing"), OLD_TEXTS, image_height=64)


def test_a_taller_line_height_keeps_every_weight_and_scales_the_width(tmp_path):
    old_model, _ = save_checkpoint(tmp_path / "trained")
    start = start_from_pretrained(str(tmp_path / "trained"), OLD_TEXTS, image_height=64)
    assert start.model.config.image_height == 64 and start.processor.image_processor.image_height == 64
    width = 2 * old_model.config.max_width  # the aspect kept
    assert start.model.config.max_width == width == start.processor.image_processor.max_width
    for name, tensor in old_model.state_dict().items():
        torch.testing.assert_close(start.model.state_dict()[name], tensor, rtol=0, atol=0, msg=name)
    assert any("line height 32 -> 64 px" in note for note in start.notes)
    batch = start.processor(images=[np.random.default_rng(0).integers(0, 256, (40, 300), dtype=np.uint8)])
    assert batch["pixel_values"].shape[-2] == 64
    assert start.model.eval()(**batch).logits.shape[1] == batch["pixel_values"].shape[-1] // 8
    given = start_from_pretrained(str(tmp_path / "trained"), OLD_TEXTS, image_height=64, max_width=128)
    assert given.model.config.max_width == 128


def test_text_rules_and_width_may_change(tmp_path):
    save_checkpoint(tmp_path / "trained")
    start = start_from_pretrained(str(tmp_path / "trained"), ["abc ,d"], text_rules="bentham", max_width=128)
    assert start.processor.text_rules == "bentham" and start.processor.image_processor.max_width == 128
    assert start.processor.encode_text(["abc ,d"]) == start.processor.encode_text(["abc,d"])
    assert any("text rules 'none' of the checkpoint replaced by 'bentham'" in note for note in start.notes)
