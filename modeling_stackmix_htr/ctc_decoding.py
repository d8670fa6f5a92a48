"""CTC decoding of the recognizer's frames: the greedy path's runs, and the text decoders.

`greedy_runs` is the one rule for reading a greedy (best class per frame) path: consecutive equal
non-blank classes form one run, which emits one character; a blank separates runs, so "a, blank, a"
emits "a" twice. The processor's greedy decoding, its character offsets, the pipeline's
confidence and the character spans of the alignment tools all read runs from it.

`CTCDecoder` turns a batch of logits into texts, greedily or by beam search (`ctc_beam_search`,
with the word language model of a checkpoint's `language_model/` folder when it has one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .ctc_beam_search import UNKNOWN_LABEL, LanguageModelSettings, WordLanguageModel, ctc_beam_search

DECODERS = ("greedy", "beam")
DEFAULT_BEAM_WIDTH = 16


def greedy_runs(frame_ids: np.ndarray, blank_id: int = 0) -> tuple[list[int], list[tuple[int, int]]]:
    """The emitted classes of a greedy path `(T,)` and the inclusive frame run `(start, end)` of each."""
    labels, runs = [], []
    previous = blank_id
    for frame, token in enumerate(np.asarray(frame_ids).tolist()):
        if token != blank_id:
            if token == previous:
                runs[-1] = (runs[-1][0], frame)
            else:
                labels.append(token)
                runs.append((frame, frame))
        previous = token
    return labels, runs


def greedy_confidence(frame_ids: Sequence[int], frame_probabilities: Sequence[float], blank_id: int = 0) -> float:
    """A line's confidence in [0, 1]: for each emitted character, the mean over the frames of its run of the
    highest class probability, averaged over the characters; a line that emits nothing scores the mean over
    all its frames instead (how sure the model is that nothing is written)."""
    probabilities = np.asarray(frame_probabilities, dtype=np.float64)
    _, runs = greedy_runs(frame_ids, blank_id)
    scores = [probabilities[start : end + 1].mean() for start, end in runs] or probabilities
    return float(np.mean(scores)) if len(scores) else 0.0


def checked_decoder(decoder: str) -> str:
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
    return decoder


def checked_beam_width(beam_width: int) -> int:
    if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive integer, got {beam_width!r}")
    return int(beam_width)


def as_numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().float() if values.dtype == torch.bfloat16 else values.detach()
        return values.cpu().numpy()
    return np.asarray(values)


@dataclasses.dataclass
class CTCDecoder:
    """Texts of CTC outputs: `labels` is the character of each class id ("" for the blank), `blank_id` the
    blank's id, `to_text` turns a list of class ids into the final text (tokens joined, text rules applied)."""

    labels: list[str]
    blank_id: int
    to_text: Callable[[list[int]], str]
    finish_beam_text: Callable[[str], str]

    def greedy(self, logits_or_ids, output_lengths=None, output_char_offsets: bool = False):
        """Texts of the best class per frame; with `output_char_offsets`, also each line's emitted characters
        as transformers' CTC tokenizers give them: `{"char", "start_offset", "end_offset"}` in frames
        (end exclusive), before the text rules' post-processing."""
        ids = as_numpy(logits_or_ids)
        if ids.dtype.kind == "f":
            if ids.ndim != 3:
                raise ValueError(f"logits must have shape (batch, frames, vocab), got {ids.shape}")
            ids = ids.argmax(-1)
        if ids.ndim == 1:
            ids = ids[None]
        lengths = None if output_lengths is None else as_numpy(output_lengths).reshape(-1)
        texts, offsets = [], []
        for row, frames in enumerate(ids):
            if lengths is not None:
                frames = frames[: int(lengths[row])]
            emitted, runs = greedy_runs(frames, self.blank_id)
            texts.append(self.to_text(emitted))
            offsets.append(
                [
                    {"char": self.labels[class_id], "start_offset": start, "end_offset": end + 1}
                    for class_id, (start, end) in zip(emitted, runs)
                ]
            )
        return (texts, offsets) if output_char_offsets else texts

    def beam(
        self,
        logits,
        output_lengths,
        beam_width: int,
        language_model: WordLanguageModel | None,
        settings: LanguageModelSettings | None,
    ) -> list[str]:
        logits = as_numpy(logits)
        if logits.dtype.kind != "f" or logits.ndim != 3:
            raise ValueError(
                f"beam search needs logits of shape (batch, frames, vocab), got {logits.dtype} {logits.shape}"
            )
        logits = logits.astype(np.float64)
        log_probs = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
        lengths = None if output_lengths is None else as_numpy(output_lengths).reshape(-1)
        texts = []
        for row, frames in enumerate(log_probs):
            if lengths is not None:
                frames = frames[: int(lengths[row])]
            texts.append(
                self.finish_beam_text(ctc_beam_search(frames, self.labels, beam_width, language_model, settings))
            )
        return texts


__all__ = [
    "CTCDecoder",
    "DECODERS",
    "DEFAULT_BEAM_WIDTH",
    "UNKNOWN_LABEL",
    "checked_beam_width",
    "checked_decoder",
    "greedy_confidence",
    "greedy_runs",
]
