"""Recognised characters as image spans with confidences, and their shading."""

import numpy as np
import pytest
import torch
from support.recognizers import make_checkpoint
from transformers import pipeline

from modeling_stackmix_htr.pipeline_stackmix_htr import TASK
from stackmix_htr.recognition.character_spans import CharacterSpan, character_spans, confidence_colour, shade_spans
from stackmix_htr.recognition.frame_mapping import FrameMapping

LABELS = ["", "a", "b", " "]
STRIDE = FrameMapping.nominal(4)


def frame_probabilities(path: list[int], sure: float = 0.9) -> np.ndarray:
    """(T, 4) probabilities whose argmax follows `path`, with `sure` on the chosen class."""
    probabilities = np.full((len(path), len(LABELS)), (1 - sure) / (len(LABELS) - 1))
    probabilities[np.arange(len(path)), path] = sure
    return probabilities


def test_greedy_spans_follow_the_argmax_runs_and_average_their_probabilities():
    # frames: blank, a a, blank, b, blank, blank, a ; 8 frames of 4 columns = 32 columns, original twice as wide
    probabilities = frame_probabilities([0, 1, 1, 0, 2, 0, 0, 1])
    probabilities[2] = [0.05, 0.5, 0.4, 0.05]  # the second frame of the first "a" is less sure
    spans = character_spans(probabilities, LABELS, STRIDE, scale=2.0, image_width=64)
    assert [span.label for span in spans] == ["a", "b", "a"]
    assert spans[0].confidence == pytest.approx((0.9 + 0.5) / 2)
    assert spans[1].confidence == pytest.approx(0.9)
    # Runs map to columns: frame f reads columns [4f, 4f + 4) of the model input, doubled in the original.
    assert spans[0].x1 < 2 * 4 * 1 + 4 and spans[0].x2 <= spans[1].x1 < 2 * 4 * 4 + 8 <= spans[2].x1 + 16
    assert all(0 <= span.x1 < span.x2 <= 64 for span in spans)
    assert [span.x1 for span in spans] == sorted(span.x1 for span in spans)


def test_spans_of_a_given_text_come_from_its_forced_alignment():
    probabilities = frame_probabilities([0, 1, 1, 0, 2, 0, 0, 1])
    # "ab" is not the greedy reading ("aba"): its characters still get runs and the probability of their class.
    spans = character_spans(probabilities, LABELS, STRIDE, scale=1.0, image_width=32, target_ids=[1, 2])
    assert [span.label for span in spans] == ["a", "b"]
    assert 0 < spans[0].confidence <= 0.9 and spans[1].confidence == pytest.approx(0.9, abs=0.1)
    # Too many characters for the frames: nothing to show rather than a wrong alignment.
    assert character_spans(probabilities, LABELS, STRIDE, 1.0, 32, target_ids=[1] * 9) == []
    assert character_spans(frame_probabilities([0, 0, 0]), LABELS, STRIDE, 1.0, 12) == []


def test_shading_tints_each_span_by_its_confidence_and_leaves_the_rest():
    image = np.full((5, 20), 255, dtype=np.uint8)
    spans = [CharacterSpan("a", 2, 6, 0.0), CharacterSpan("b", 10, 14, 1.0)]
    shaded = shade_spans(image, spans)
    assert shaded.shape == (5, 20, 3) and shaded.dtype == np.uint8
    assert (shaded[:, :2] == 255).all() and (shaded[:, 6:10] == 255).all() and (shaded[:, 14:] == 255).all()
    unsure, sure = shaded[2, 4].astype(int), shaded[2, 12].astype(int)
    assert unsure[0] > unsure[1] and sure[1] > sure[0]  # red for unsure, green for sure
    assert (shaded[:, 2] == np.rint(confidence_colour(0.0))).all()  # a span's first column in full colour
    assert (shade_spans(np.zeros((5, 20, 3), np.uint8), []) == 0).all()


def test_greedy_span_confidences_average_to_the_pipeline_score(tmp_path, one_torch_thread):
    recognizer = pipeline(TASK, model=str(make_checkpoint(tmp_path / "ckpt")))
    processor = recognizer.processor
    rng = np.random.default_rng(0)
    line = np.where(rng.random((32, 200)) < 0.2, 20, 230).astype(np.uint8)
    inputs = processor.image_processor.pad_lines([processor.image_processor.fit_line(line)])
    outputs = recognizer.forward(inputs)
    frames = int(outputs["output_lengths"][0])
    probabilities = torch.softmax(outputs["logits"][0, :frames].float(), dim=-1).numpy()
    spans = character_spans(probabilities, processor.ctc_labels, STRIDE, 1.0, 200, processor.blank_id)
    result = recognizer(line)
    assert spans, "the scrambled model emits characters on this line"
    assert "".join(span.label for span in spans).split() == result["text"].split()
    assert np.mean([span.confidence for span in spans]) == pytest.approx(result["score"], abs=1e-5)
