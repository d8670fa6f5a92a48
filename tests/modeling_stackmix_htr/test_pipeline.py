import json

import numpy as np
import pytest
import torch
from PIL import Image
from support.recognizers import make_checkpoint
from transformers import pipeline

from modeling_stackmix_htr import (
    HandwritingRecognitionPipeline,
    StackMixHTRConfig,
    StackMixHTRForCTC,
    StackMixHTRProcessor,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained tiny model with its processor, saved as one folder."""
    folder = tmp_path_factory.mktemp("tiny-htr")
    processor = StackMixHTRProcessor.from_texts(["abc de"], image_height=32, max_width=256)
    torch.manual_seed(0)
    model = StackMixHTRForCTC(StackMixHTRConfig.from_preset("tiny", vocab_size=processor.vocab_size))
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def recognizer(checkpoint):
    return pipeline("handwriting-recognition", model=str(checkpoint))


def _line(seed: int, width: int = 90) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (24, width), dtype=np.uint8)


def test_pipeline_is_found_by_task_name(recognizer):
    assert isinstance(recognizer, HandwritingRecognitionPipeline)
    assert isinstance(recognizer.processor, StackMixHTRProcessor)


def test_every_input_kind_gives_text_and_score(recognizer, tmp_path):
    path = tmp_path / "line.png"
    Image.fromarray(_line(1)).save(path)
    for image in (_line(1), Image.fromarray(_line(1)), str(path)):
        result = recognizer(image)
        assert set(result) == {"text", "score"}
        assert isinstance(result["text"], str) and 0.0 <= result["score"] <= 1.0
    assert recognizer(str(path)) == recognizer(_line(1))
    results = recognizer([_line(2), _line(3, width=200)])
    assert isinstance(results, list) and len(results) == 2


def test_text_matches_the_processor_decoding_of_the_model(recognizer):
    images = [_line(4), _line(5, width=250)]
    inputs = recognizer.processor(images=images).to(recognizer.model.device)
    with torch.no_grad():
        output = recognizer.model(**inputs)
    expected = recognizer.processor.batch_decode(output.logits, output_lengths=output.output_lengths)
    assert [result["text"] for result in recognizer(images)] == expected


def _constant_pipeline(checkpoint, bias: torch.Tensor) -> HandwritingRecognitionPipeline:
    """A pipeline whose model gives every frame the class scores `bias`."""
    recognizer = pipeline("handwriting-recognition", model=str(checkpoint))
    last = recognizer.model.head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(bias)
    return recognizer


def test_score_is_the_mean_probability_of_the_emitted_characters(checkpoint):
    processor = StackMixHTRProcessor.from_pretrained(checkpoint)
    bias = torch.zeros(processor.vocab_size)
    bias[processor.tokenizer.get_vocab()["d"]] = 3.0
    result = _constant_pipeline(checkpoint, bias)(_line(6))
    assert result["text"] == "d"  # one run of "d" frames collapses to one character
    assert result["score"] == pytest.approx(torch.softmax(bias, 0).max().item(), rel=1e-5)


def test_an_empty_line_scores_the_blank_probability(checkpoint):
    bias = torch.zeros(StackMixHTRProcessor.from_pretrained(checkpoint).vocab_size)
    bias[0] = 2.0
    result = _constant_pipeline(checkpoint, bias)(_line(7))
    assert result["text"] == ""
    assert result["score"] == pytest.approx(torch.softmax(bias, 0)[0].item(), rel=1e-5)


def test_real_saint_gall_line(recognizer, saint_gall_dir):
    line = sorted((saint_gall_dir / "data" / "line_images_normalized").glob("*.png"))[0]
    result = recognizer(str(line))
    assert isinstance(result["text"], str)
    assert 0.0 <= result["score"] <= 1.0


def test_unknown_pipeline_arguments_are_rejected(recognizer):
    with pytest.raises(TypeError, match="unexpected arguments: top_k"):
        recognizer(_line(8), top_k=4)


# ---------------------------------------------------------------- batching


@pytest.fixture(scope="module")
def scrambled_checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("scrambled"))


def _lines(widths) -> list[np.ndarray]:
    return [_line(seed, width) for seed, width in enumerate(widths)]


def test_batches_give_the_texts_of_batch_one(scrambled_checkpoint):
    recognizer = pipeline("handwriting-recognition", model=str(scrambled_checkpoint))
    lines = _lines([40, 250, 90, 200, 33, 120, 180, 64, 150])
    one_by_one = [recognizer(line) for line in lines]
    texts = [result["text"] for result in one_by_one]
    assert len(set(texts)) >= 5  # different lines read differently: the comparison has substance
    for batch_size in (1, 2, 4, 16):
        batched = recognizer(lines, batch_size=batch_size)
        assert [result["text"] for result in batched] == texts
        np.testing.assert_allclose([r["score"] for r in batched], [r["score"] for r in one_by_one], atol=1e-5)
    constructed = pipeline("handwriting-recognition", model=str(scrambled_checkpoint), batch_size=3)
    assert [result["text"] for result in constructed(lines)] == texts


def test_one_padded_forward_per_batch_of_width_sorted_lines(recognizer, monkeypatch):
    batches = []
    forward = recognizer._forward

    def recording_forward(model_inputs):
        batches.append(model_inputs["pixel_mask"].sum(dim=-1).tolist())
        return forward(model_inputs)

    monkeypatch.setattr(recognizer, "_forward", recording_forward)
    results = recognizer(_lines([200, 40, 160, 80, 120, 240, 60]), batch_size=3)
    assert len(results) == 7
    assert [len(widths) for widths in batches] == [3, 3, 1]
    assert [width for widths in batches for width in widths] == [40, 60, 80, 120, 160, 200, 240]


def test_empty_lists_and_streams(recognizer):
    assert recognizer([]) == []
    assert recognizer([], batch_size=4) == []
    lines = _lines([50, 120, 70])
    stream = recognizer((line for line in lines), batch_size=2)
    assert not isinstance(stream, list)
    assert list(stream) == recognizer(lines)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        recognizer(lines, batch_size=0)


def test_a_bad_image_in_a_batch_is_named(recognizer, tmp_path):
    with pytest.raises(FileNotFoundError, match="image 2: image file not found"):
        recognizer([_line(1), _line(2), str(tmp_path / "missing.png")], batch_size=2)


def test_encoded_bytes_are_refused_as_transformers_image_pipelines_refuse_them(recognizer, tmp_path):
    path = tmp_path / "line.png"
    Image.fromarray(_line(1)).save(path)
    for given in (path.read_bytes(), [path.read_bytes()]):
        with pytest.raises(TypeError, match=r"raw bytes of an encoded image; decode them first"):
            recognizer(given)


def test_checkpoint_folders_carry_the_pipeline(checkpoint, recognizer):
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["custom_pipelines"] == {
        "handwriting-recognition": {
            "impl": "pipeline_stackmix_htr.HandwritingRecognitionPipeline",
            "pt": ["AutoModelForCTC"],
            "type": "image",
        }
    }
    assert (checkpoint / "pipeline_stackmix_htr.py").is_file()
    # Where the package is imported, its own pipeline serves the folder (no trust_remote_code needed),
    # and the loaded model does not ask for the folder's copy of the code.
    assert type(recognizer) is HandwritingRecognitionPipeline
    assert getattr(recognizer.model.config, "custom_pipelines", None) is None
