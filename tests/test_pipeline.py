import numpy as np
import pytest
import torch
from PIL import Image
from transformers import pipeline

from modeling_stackmix_htr import (
    HandwritingRecognitionPipeline,
    StackMixHTRConfig,
    StackMixHTRForCTC,
    StackMixHTRProcessor,
)


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
