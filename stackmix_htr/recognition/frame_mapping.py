"""Where a CTC recognizer's output frames look in the input image, measured on the model itself.

A frame of `StackMixHTRForCTC` summarises a window of input columns: the network's stride is 8, but
which column a frame is centred on depends on the convolutions' padding, and what a CTC spike
responds to also depends on the BiLSTM that sits between the convolutions and the output. Char
boxes need the real answer, so it is measured rather than assumed: the gradient of a frame's score
with respect to the input pixels, summed over rows and channels, gives a column profile whose peak
is the column that frame reads. Over many frames the peak lies at `stride * frame + offset`; the
median of `peak - stride * frame` is the offset.

`FrameMapping(stride, offset)` then maps a frame position (a real number: the centre of a run of
frames) to a column of the model's input image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch


class NoCharacterEmittedError(ValueError):
    """The model read every probed line as blank: there is no spike to measure."""


@dataclass(frozen=True)
class FrameMapping:
    """Input column (in the model's resized image) read by frame `f`: `stride * f + offset`."""

    stride: float
    offset: float

    def column(self, frame: float | np.ndarray) -> float | np.ndarray:
        return self.stride * np.asarray(frame, dtype=np.float64) + self.offset

    @classmethod
    def nominal(cls, stride: int) -> "FrameMapping":
        """The mapping assumed without measuring: frame f covers columns [stride f, stride (f + 1))."""
        return cls(float(stride), stride / 2)


def saliency_peaks(
    score_frames: Callable[[torch.Tensor], torch.Tensor], pixel_values: torch.Tensor, frames: list[int]
) -> np.ndarray:
    """The input column each of `frames` reads most, by the gradient of its score.

    score_frames: maps pixel_values (1, C, H, W) to per-frame scores (T,) of one line.
    Returns the peak column (int) of |d score[f] / d pixels| summed over channels and rows, per frame.
    """
    pixels = pixel_values.detach().clone().requires_grad_(True)
    scores = score_frames(pixels)
    peaks = []
    for index, frame in enumerate(frames):
        (gradient,) = torch.autograd.grad(scores[frame], pixels, retain_graph=index < len(frames) - 1)
        peaks.append(int(gradient.abs().sum(dim=(0, 1, 2)).argmax()))
    return np.asarray(peaks, dtype=np.int64)


def measure_frame_mapping(model, pixel_values: torch.Tensor, pixel_mask: torch.Tensor, max_frames_per_line: int = 16):
    """Measure the frame -> column mapping of a CTC model on real lines.

    For each line of the batch, the frames whose most likely class is not the blank (CTC spikes:
    the frames that emit characters) are probed, up to `max_frames_per_line` of them spread over
    the line; a frame's score is the log-probability of its most likely class.
    Returns (FrameMapping, number of frames probed).
    """
    stride = model.config.width_stride
    blank = model.config.pad_token_id
    was_training = model.training
    model.eval()
    offsets = []
    try:
        for line in range(pixel_values.shape[0]):
            width = int(pixel_mask[line].sum())
            pixels, mask = pixel_values[line : line + 1, ..., :width], pixel_mask[line : line + 1, :width]
            with torch.no_grad():
                logits = model(pixel_values=pixels, pixel_mask=mask).logits[0].float()
            classes = logits.argmax(-1)
            spikes = torch.nonzero(classes != blank).flatten().tolist()
            if not spikes:
                continue
            chosen = [
                spikes[i] for i in np.linspace(0, len(spikes) - 1, min(max_frames_per_line, len(spikes))).astype(int)
            ]
            chosen = sorted(set(chosen))

            def score_frames(x, classes=classes, mask=mask):
                log_probs = torch.log_softmax(model(pixel_values=x, pixel_mask=mask).logits[0].float(), dim=-1)
                return log_probs.gather(1, classes[:, None])[:, 0]

            peaks = saliency_peaks(score_frames, pixels, chosen)
            offsets.extend(peaks - stride * np.asarray(chosen))
    finally:
        model.train(was_training)
    if not offsets:
        raise NoCharacterEmittedError("no line emitted a character: cannot measure where the model's frames look")
    return FrameMapping(float(stride), float(np.median(offsets))), len(offsets)
