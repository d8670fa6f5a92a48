"""Recognised characters as column spans of a line image, each with the model's confidence in it.

A CTC recognizer gives, for every output frame of a line, a probability per class. The frames
that emit a character form a run (`ctc_decoding.greedy_runs` for the greedy path, or a forced
alignment of a given text for another decoding, such as beam search), and `runs_to_boxes` turns
runs into columns of the original image through a `FrameMapping`. A character's confidence is
the mean probability of its class over the frames of its run: on the greedy path this is the
per-character score the "handwriting-recognition" pipeline averages into a line's `score`.

`shade_spans` paints each span of a line from red (unsure) through yellow to green (sure).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from modeling_stackmix_htr.ctc_decoding import greedy_runs
from stackmix_htr.recognition.alignment import forced_align, forced_runs, runs_to_boxes
from stackmix_htr.recognition.frame_mapping import FrameMapping

SHADE_OPACITY = 0.45
# Confidence 0, 0.5 and 1: red, yellow, green.
_COLOUR_STOPS = np.array([[215, 48, 39], [254, 224, 80], [26, 152, 80]], dtype=np.float64)


@dataclass(frozen=True)
class CharacterSpan:
    """One recognised character: columns [x1, x2) of the original line image and its confidence in [0, 1]."""

    label: str
    x1: int
    x2: int
    confidence: float


def character_spans(
    probabilities: np.ndarray,
    labels: Sequence[str],
    mapping: FrameMapping,
    scale: float,
    image_width: int,
    blank_id: int = 0,
    target_ids: Sequence[int] | None = None,
) -> list[CharacterSpan]:
    """The spans of a line's recognised characters.

    probabilities: (T, V) class probabilities of the line's valid frames. labels: the character of
    each class id (the processor's `ctc_labels`). scale: original columns per model-input column.
    target_ids: the class ids of a decoded text to align to the frames (forced alignment); the
    greedy path's characters when None. Returns [] when nothing is emitted or the text cannot be
    aligned (more characters than the frames hold).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if target_ids is None:
        ids, runs = greedy_runs(probabilities.argmax(-1), blank_id)
    else:
        ids = [int(class_id) for class_id in target_ids]
        aligned = (
            forced_align(np.log(np.maximum(probabilities, np.finfo(np.float64).tiny)), ids, blank_id) if ids else None
        )
        if aligned is None:
            return []
        runs = forced_runs(aligned[0], len(ids))
    characters = [labels[class_id] for class_id in ids]
    boxes = runs_to_boxes(runs, characters, len(probabilities), mapping, scale, image_width)
    return [
        CharacterSpan(box["label"], box["x1"], box["x2"], float(probabilities[start : end + 1, class_id].mean()))
        for box, class_id, (start, end) in zip(boxes, ids, runs)
    ]


def confidence_colour(confidence: float) -> np.ndarray:
    """RGB (float) of a confidence in [0, 1]: red, yellow at 0.5, green at 1."""
    position = float(np.clip(confidence, 0.0, 1.0)) * (len(_COLOUR_STOPS) - 1)
    low = min(int(position), len(_COLOUR_STOPS) - 2)
    weight = position - low
    return (1 - weight) * _COLOUR_STOPS[low] + weight * _COLOUR_STOPS[low + 1]


def shade_spans(image: np.ndarray, spans: Sequence[CharacterSpan], opacity: float = SHADE_OPACITY) -> np.ndarray:
    """An RGB copy of a line image (uint8, (H, W) or (H, W, C)) with every span tinted by its confidence.

    The first column of each span is drawn in the full colour, so neighbouring characters of equal
    confidence stay apart.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    shaded = image[:, :, :3].astype(np.float64)
    for span in spans:
        colour = confidence_colour(span.confidence)
        shaded[:, span.x1 : span.x2] = (1 - opacity) * shaded[:, span.x1 : span.x2] + opacity * colour
        shaded[:, span.x1] = colour
    return np.clip(np.rint(shaded), 0, 255).astype(np.uint8)


__all__ = ["CharacterSpan", "character_spans", "confidence_colour", "shade_spans"]
