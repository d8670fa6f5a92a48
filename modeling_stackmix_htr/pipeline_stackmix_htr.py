"""The "handwriting-recognition" pipeline: line images in, text and confidence out."""

import itertools
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import AutoModelForCTC, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from .ctc_decoding import greedy_confidence

TASK = "handwriting-recognition"
# A list is recognised in windows of this many batches; each window is sorted by line width, so
# a batch pads its lines to similar widths while memory stays bounded for long lists and streams.
SORT_WINDOW_BATCHES = 32


class HandwritingRecognitionPipeline(Pipeline):
    """
    Recognises the text of single text-line images with a CTC line recognizer.

    Inputs: a PIL image, a uint8 numpy array (H, W) or (H, W, C), an image file path,
    or a list (or any other iterable: a generator, a dataset column) of these. One image
    gives `{"text": str, "score": float}`, a list gives a list of them in the same order,
    another iterable a generator of them.

    With `batch_size=B` (at call or construction) lines are sorted by width within windows
    of `SORT_WINDOW_BATCHES * B` lines and each batch of B runs as one padded forward pass;
    the model masks the padding, so texts are the ones batch size 1 gives.

    `text` is the CTC decoding after the processor's text rules: the processor's own decoder
    (greedy, or beam search once a language model was tuned into the checkpoint), or the
    call's `decoder="greedy"|"beam"`, `beam_width`, `alpha` (language-model weight) and `beta`
    (word bonus), which go to the processor's `batch_decode`. `score` is a confidence in
    [0, 1] of the greedy path: for each emitted character, the mean over the frames of its
    run of the highest class probability, averaged over the characters. A line decoded
    as empty scores the mean highest probability over its frames instead (how sure the
    model is that nothing is written), so an empty result is not automatically certain.

    Build it with `pipeline("handwriting-recognition", model=folder)` once
    `modeling_stackmix_htr` is imported, or, in a process without the package, from a
    checkpoint folder (it carries this file) with
    `pipeline("handwriting-recognition", model=folder_or_hub_id, trust_remote_code=True)`.
    """

    _load_processor = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, model, *args, backend: str = "pytorch", num_threads: int | None = None, **kwargs):
        """`backend="onnx"` runs the model with ONNX Runtime (exported in memory; `num_threads` intra-op
        threads); a `StackMixHTROnnxModel` given as `model` runs there anyway."""
        if backend == "onnx":
            try:
                from modeling_stackmix_htr.onnx import StackMixHTROnnxModel
            except ImportError as error:
                raise ImportError(
                    f"backend='onnx' needs the stackmix-htr package with its onnx extra ({error})"
                ) from error
            model = StackMixHTROnnxModel.from_model(model, num_threads=num_threads)
        elif backend != "pytorch":
            raise ValueError(f"backend must be 'pytorch' or 'onnx', got {backend!r}")
        super().__init__(model, *args, **kwargs)

    def _sanitize_parameters(self, decoder=None, beam_width=None, alpha=None, beta=None, **kwargs):
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
        decoding = {"decoder": decoder, "beam_width": beam_width, "alpha": alpha, "beta": beta}
        return {}, {}, {"decoding": {name: value for name, value in decoding.items() if value is not None}}

    def __call__(self, inputs, batch_size=None, **kwargs):
        if isinstance(inputs, (Image.Image, np.ndarray, str, os.PathLike, bytes, bytearray, memoryview)):
            return super().__call__(inputs, **kwargs)  # one image (bytes: refused by the image processor)
        _, forward_params, postprocess_params = self._sanitize_parameters(**kwargs)
        if batch_size is None:
            batch_size = self._batch_size or 1
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        results = self._recognise(iter(inputs), batch_size, forward_params, postprocess_params)
        return list(results) if isinstance(inputs, (list, tuple)) else results

    def _recognise(self, images, batch_size: int, forward_params: dict, postprocess_params: dict):
        """Results of an iterator of images, in its order: width-sorted windows, padded batches."""
        image_processor = self.processor.image_processor
        window_size = batch_size * SORT_WINDOW_BATCHES
        for start in itertools.count(0, window_size):
            window = list(itertools.islice(images, window_size))
            if not window:
                return
            lines = [image_processor.fit_line(image, f"image {start + index}") for index, image in enumerate(window)]
            order = sorted(range(len(lines)), key=lambda index: lines[index].shape[1])
            results = [None] * len(lines)
            for first in range(0, len(order), batch_size):
                members = order[first : first + batch_size]
                model_inputs = image_processor.pad_lines([lines[index] for index in members], return_tensors="pt")
                outputs = self.forward(model_inputs, **forward_params)
                for index, result in zip(members, self._decode(outputs, **postprocess_params)):
                    results[index] = result
            yield from results

    def preprocess(self, image):
        return self.processor(images=[image], return_tensors="pt")

    def _forward(self, model_inputs):
        outputs = self.model(pixel_values=model_inputs["pixel_values"], pixel_mask=model_inputs["pixel_mask"])
        return {"logits": outputs.logits, "output_lengths": outputs.output_lengths}

    def postprocess(self, model_outputs, decoding=None):
        return self._decode(model_outputs, decoding)[0]

    def _decode(self, model_outputs, decoding=None) -> list[dict]:
        """Text and score of every line of a forward pass's outputs; `decoding` goes to `batch_decode`."""
        logits = model_outputs["logits"].float()
        lengths = model_outputs["output_lengths"].tolist()
        texts = self.processor.batch_decode(logits, output_lengths=model_outputs["output_lengths"], **(decoding or {}))
        best_probability, best_id = torch.softmax(logits, dim=-1).max(dim=-1)
        blank = self.processor.blank_id
        return [
            {"text": text, "score": greedy_confidence(best_id[row, :length], best_probability[row, :length], blank)}
            for row, (text, length) in enumerate(zip(texts, lengths))
        ]

    def save_pretrained(self, save_directory, **kwargs):
        """Save model, processor and this pipeline's code (`custom_pipelines` in config.json)."""
        super().save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory, **kwargs)


def custom_pipelines_entry() -> dict:
    """config.json's `custom_pipelines`: where `pipeline(TASK, model=folder, trust_remote_code=True)`
    finds this class in a process that does not have the package."""
    return {
        TASK: {
            "impl": f"{Path(__file__).stem}.{HandwritingRecognitionPipeline.__name__}",
            "pt": [AutoModelForCTC.__name__],
            "type": "image",
        }
    }


def register_pipeline() -> None:
    """Register the task with transformers' pipeline registry (done on package import)."""
    PIPELINE_REGISTRY.register_pipeline(
        TASK, pipeline_class=HandwritingRecognitionPipeline, pt_model=AutoModelForCTC, type="image"
    )


__all__ = [
    "HandwritingRecognitionPipeline",
    "custom_pipelines_entry",
    "register_pipeline",
    "TASK",
]
