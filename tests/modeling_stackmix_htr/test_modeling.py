import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModel, AutoModelForCTC

from modeling_stackmix_htr import (
    StackMixHTRConfig,
    StackMixHTRForCTC,
    StackMixHTRImageProcessor,
    StackMixHTRProcessor,
)


def tiny_model(vocab_size=12, **overrides) -> StackMixHTRForCTC:
    torch.manual_seed(0)
    return StackMixHTRForCTC(StackMixHTRConfig.from_preset("tiny", vocab_size=vocab_size, **overrides)).eval()


@pytest.fixture(scope="module")
def paper_model():
    torch.manual_seed(0)
    return StackMixHTRForCTC(StackMixHTRConfig.from_preset("paper", vocab_size=80)).eval()


def test_paper_model_gives_256_frames_for_a_2048_pixel_line(paper_model):
    with torch.no_grad():
        output = paper_model(torch.rand(1, 3, 128, 2048))
    assert output.logits.shape == (1, 256, 80)
    assert output.output_lengths.tolist() == [256]
    assert output.loss is None


def test_presets_and_overrides():
    paper = StackMixHTRConfig.from_preset("paper")
    assert (paper.num_channels, paper.image_height, paper.max_width) == (3, 128, 2048)
    assert (paper.stage_channels, paper.stage_blocks, paper.stem_kernel_size) == ([64, 128, 256], [3, 4, 6], 7)
    assert (paper.lstm_hidden_size, paper.lstm_num_layers, paper.pad_token_id, paper.ctc_zero_infinity) == (
        256,
        3,
        0,
        True,
    )
    assert paper.width_stride == 8
    small = StackMixHTRConfig.from_preset("small", vocab_size=50, num_channels=1)
    assert (small.vocab_size, small.num_channels, small.image_height) == (50, 1, 64)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        StackMixHTRConfig.from_preset("huge")
    with pytest.raises(ValueError, match="image_height must be a positive multiple"):
        StackMixHTRConfig(image_height=100)


def test_weights_are_initialised_for_a_resnet():
    model = tiny_model()
    stem = model.backbone.conv1.weight
    fan_out = stem.shape[0] * stem.shape[2] * stem.shape[3]
    assert stem.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.25)
    norm = model.backbone.layer2.blocks[0].bn1
    assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)
    assert torch.all(norm.running_mean == 0) and torch.all(norm.running_var == 1)


def test_output_lengths_follow_the_mask():
    model = tiny_model()
    mask = torch.zeros(3, 64, dtype=torch.long)
    for row, width in enumerate((64, 17, 8)):
        mask[row, :width] = 1
    with torch.no_grad():
        output = model(torch.rand(3, 3, 32, 64), pixel_mask=mask)
    assert output.logits.shape == (3, 8, 12)
    assert output.output_lengths.tolist() == [8, 3, 1]


def test_padding_has_no_effect_on_a_lines_logits_or_loss():
    model = tiny_model(ctc_loss_reduction="none")
    processor = StackMixHTRImageProcessor(image_height=32, max_width=512)
    rng = np.random.default_rng(0)
    short = rng.integers(0, 256, (32, 37), dtype=np.uint8)  # 37 columns: padded to 40 alone
    wide = rng.integers(0, 256, (32, 300), dtype=np.uint8)
    labels = torch.tensor([[1, 2, 3], [4, 5, -100]])
    alone = processor([short])
    together = processor([short, wide])
    with torch.no_grad():
        single = model(**alone, labels=labels[:1])
        batched = model(**together, labels=labels)
    frames = single.output_lengths.item()
    assert frames == 5 and batched.output_lengths.tolist() == [5, 38]
    torch.testing.assert_close(batched.logits[0, :frames], single.logits[0, :frames], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched.loss[0], single.loss[0], atol=1e-5, rtol=1e-5)


def test_padding_has_no_effect_on_a_lines_gradients():
    """The zeroed padding column passes no gradient back: in eval mode a line's loss gives the same
    gradients alone (no padding at all) and beside a wider line."""
    model = tiny_model(ctc_loss_reduction="none")
    processor = StackMixHTRImageProcessor(image_height=32, max_width=512)
    rng = np.random.default_rng(1)
    short = rng.integers(0, 256, (32, 40), dtype=np.uint8)  # a multiple of 8: no padding alone
    wide = rng.integers(0, 256, (32, 300), dtype=np.uint8)
    labels = torch.tensor([[1, 2, 3], [4, 5, -100]])
    gradients = []
    for images in ([short], [short, wide]):
        inputs = processor(images)
        assert inputs["pixel_mask"][0].sum() == 40 and inputs["pixel_values"].shape[-1] == (
            40 if len(images) == 1 else 304
        )
        pixels = inputs["pixel_values"].requires_grad_()
        model.zero_grad()
        loss = model(pixel_values=pixels, pixel_mask=inputs["pixel_mask"], labels=labels[: len(images)]).loss[0]
        loss.backward()
        weights = model.backbone.layer1.blocks[0].conv1.weight.grad.clone()
        gradients.append((pixels.grad[0, :, :, :40], weights))
    assert gradients[0][0].abs().sum() > 0
    torch.testing.assert_close(gradients[1][0], gradients[0][0], atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(gradients[1][1], gradients[0][1], atol=1e-6, rtol=1e-4)


def test_ctc_loss_is_float32_ignores_padding_labels_and_zeroes_impossible_lines():
    model = tiny_model(ctc_loss_reduction="none")
    pixels = torch.rand(2, 3, 32, 32)  # 4 frames per line
    with torch.no_grad():
        padded = model(pixels, labels=torch.tensor([[1, 2], [3, -100]])).loss
        first = model(pixels[:1], labels=torch.tensor([[1, 2]])).loss
        second = model(pixels[1:], labels=torch.tensor([[3]])).loss
        impossible = model(pixels[:1], labels=torch.tensor([[1, 1, 1, 1]])).loss  # needs 7 frames
        with torch.autocast("cpu", dtype=torch.bfloat16):
            autocast = model(pixels, labels=torch.tensor([[1, 2], [3, -100]]))
    torch.testing.assert_close(padded, torch.cat([first, second]))
    assert impossible.item() == 0.0
    assert autocast.loss.dtype == torch.float32 and torch.isfinite(autocast.loss).all()
    mean_model = tiny_model()
    with torch.no_grad():
        mean_loss = mean_model(pixels, labels=torch.tensor([[1, 2], [3, -100]])).loss
    # "mean": each line's loss divided by its label length, averaged over the batch.
    assert mean_loss.dim() == 0
    assert mean_loss.item() == pytest.approx(((padded[0] / 2 + padded[1] / 1) / 2).item(), rel=1e-5)
    with pytest.raises(ValueError, match="vocab_size"):
        model(pixels, labels=torch.tensor([[12], [1]]))
    with pytest.raises(ValueError, match="blank id 0; pad labels with -100"):
        model(pixels, labels=torch.tensor([[1, 0], [1, 2]]))


def test_save_and_load_reproduce_logits(tmp_path):
    model = tiny_model()
    pixels, mask = torch.rand(2, 3, 32, 48), torch.ones(2, 48, dtype=torch.long)
    mask[1, 20:] = 0
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and not list(tmp_path.glob("*.bin"))
    assert type(AutoConfig.from_pretrained(tmp_path)) is StackMixHTRConfig
    with torch.no_grad():
        expected = model(pixels, pixel_mask=mask).logits
        for auto_class in (AutoModelForCTC, AutoModel):
            loaded = auto_class.from_pretrained(tmp_path).eval()
            assert type(loaded) is StackMixHTRForCTC
            # Weights memory-mapped from safetensors can sit at other alignments, which
            # changes the order of SIMD sums: equal up to float rounding, not bit for bit.
            torch.testing.assert_close(loaded(pixels, pixel_mask=mask).logits, expected, atol=1e-6, rtol=1e-6)
            assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


def test_saved_weights_are_readable_by_other_accounts_and_an_unreadable_file_is_named(tmp_path, monkeypatch):
    previous = os.umask(0o022)
    try:
        tiny_model().save_pretrained(tmp_path)
    finally:
        os.umask(previous)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
    assert modes["model.safetensors"] == modes["config.json"] == 0o644
    weights = tmp_path / "model.safetensors"
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != weights and real_access(path, mode))
    with pytest.raises(PermissionError, match=r"model.safetensors: this account may not read it .*chmod a\+r"):
        AutoModelForCTC.from_pretrained(tmp_path)


def _torchvision_names(backbone_state: dict) -> dict:
    """Our backbone's tensors under torchvision's ResNet34 names, plus entries torchvision has beyond stage 3."""
    renamed = {key.replace(".blocks.", "."): value.clone() for key, value in backbone_state.items()}
    renamed["layer4.0.conv1.weight"] = torch.zeros(512, 256, 3, 3)
    renamed["fc.weight"] = torch.zeros(1000, 512)
    return renamed


def test_stages_initialise_from_a_local_resnet34_state_dict(tmp_path, paper_model):
    torch.manual_seed(1)
    source = StackMixHTRForCTC(StackMixHTRConfig.from_preset("paper", vocab_size=80))
    torchvision_state = _torchvision_names(source.backbone.state_dict())
    save_file(torchvision_state, tmp_path / "resnet34.safetensors")
    torch.save(torchvision_state, tmp_path / "resnet34.pth")
    for name in ("resnet34.safetensors", "resnet34.pth"):
        config = StackMixHTRConfig.from_preset("paper", vocab_size=80, pretrained_resnet34_path=str(tmp_path / name))
        model = StackMixHTRForCTC(config)
        for key, value in source.backbone.state_dict().items():
            assert torch.equal(model.backbone.state_dict()[key], value), key
    # A grayscale model gets the RGB stem kernels summed over the colour channels.
    gray = StackMixHTRForCTC(
        StackMixHTRConfig.from_preset("paper", num_channels=1, pretrained_resnet34_path=str(tmp_path / name))
    )
    assert torch.allclose(gray.backbone.conv1.weight, source.backbone.conv1.weight.sum(1, keepdim=True))
    # A trained checkpoint loads its own weights, even where the ImageNet file is gone.
    gray.save_pretrained(tmp_path / "checkpoint")
    (tmp_path / "resnet34.pth").unlink()
    reloaded = StackMixHTRForCTC.from_pretrained(tmp_path / "checkpoint")
    assert torch.equal(reloaded.backbone.conv1.weight, gray.backbone.conv1.weight)


def test_bad_resnet34_files_give_clear_errors(tmp_path, paper_model):
    with pytest.raises(FileNotFoundError, match="nowhere.safetensors"):
        paper_model.load_resnet34_weights(tmp_path / "nowhere.safetensors")
    incomplete = _torchvision_names(paper_model.backbone.state_dict())
    del incomplete["layer3.5.conv2.weight"]
    save_file(incomplete, tmp_path / "incomplete.safetensors")
    with pytest.raises(ValueError, match=r"missing 1 keys, e\.g\. layer3\.blocks\.5\.conv2\.weight"):
        paper_model.load_resnet34_weights(tmp_path / "incomplete.safetensors")
    wrong_shape = _torchvision_names(paper_model.backbone.state_dict())
    wrong_shape["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    save_file(wrong_shape, tmp_path / "resnet18ish.safetensors")
    with pytest.raises(ValueError, match=r"wrong shape: conv1\.weight \(64, 3, 3, 3\) vs \(64, 3, 7, 7\)"):
        paper_model.load_resnet34_weights(tmp_path / "resnet18ish.safetensors")


def render_line(text: str) -> Image.Image:
    font = ImageFont.load_default(size=20)
    image = Image.new("L", (12 * len(text) + 10, 28), 255)
    ImageDraw.Draw(image).text((4, 2), text, fill=0, font=font)
    return image


def test_tiny_model_overfits_four_rendered_lines():
    texts = ["ink blot", "mix", "hello", "gall"]
    processor = StackMixHTRProcessor.from_texts(texts, image_height=32, max_width=256)
    batch = processor(images=[render_line(text) for text in texts], text=texts)
    model = tiny_model(vocab_size=processor.vocab_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread is faster and steadier on a busy machine
    predictions = []
    try:
        for step in range(300):
            model.train()
            model(**batch).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            if step % 10 == 9:
                model.eval()
                with torch.no_grad():
                    output = model(pixel_values=batch["pixel_values"], pixel_mask=batch["pixel_mask"])
                predictions = processor.batch_decode(output.logits, output_lengths=output.output_lengths)
                if predictions == texts:
                    break
    finally:
        torch.set_num_threads(threads)
    assert predictions == texts, f"not overfitted after {step + 1} steps: {predictions}"


def test_bilstm_outputs_equal_each_line_run_alone_and_keep_nn_lstm_names():
    from modeling_stackmix_htr.modeling_stackmix_htr import StackMixHTRBiLSTM

    torch.manual_seed(0)
    lstm = StackMixHTRBiLSTM(6, 5, num_layers=2, dropout=0.0).eval()
    reference = torch.nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True)
    assert lstm.state_dict().keys() == reference.state_dict().keys()
    reference.load_state_dict(lstm.state_dict())
    lengths = torch.tensor([7, 3, 1])
    sequence = torch.randn(3, 7, 6)
    with torch.no_grad():
        batched = lstm(sequence, lengths)
        assert batched.shape == (3, 7, 10)
        for row, length in enumerate(lengths.tolist()):
            alone, _ = reference(sequence[row : row + 1, :length])
            torch.testing.assert_close(batched[row, :length], alone[0], atol=1e-6, rtol=1e-6)
        # Without lengths every frame is valid: the plain bidirectional LSTM.
        torch.testing.assert_close(lstm(sequence), reference(sequence)[0], atol=1e-6, rtol=1e-6)
