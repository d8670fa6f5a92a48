"""The "handwriting-recognition" pipeline: line image in, text and confidence out."""

import itertools

import torch
from transformers import AutoModelForCTC, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

TASK = "handwriting-recognition"


class HandwritingRecognitionPipeline(Pipeline):
    """
    Recognises the text of single text-line images with a CTC line recognizer.

    Inputs: a PIL image, a uint8 numpy array (H, W) or (H, W, C), an image file path,
    or a list of these. Each line gives `{"text": str, "score": float}`.

    `text` is the greedy CTC decoding after the processor's text rules. `score` is a
    confidence in [0, 1]: for each emitted character, the mean over the frames of its
    run of the highest class probability, averaged over the characters. A line decoded
    as empty scores the mean highest probability over its frames instead (how sure the
    model is that nothing is written), so an empty result is not automatically certain.

    Build it with `pipeline("handwriting-recognition", model=folder)` once
    `modeling_stackmix_htr` is imported, or, in a process without the package, from a
    folder written by this pipeline's `save_pretrained` with
    `pipeline(model=folder, trust_remote_code=True)`.
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
                raise ImportError(f"backend='onnx' needs the stackmix-htr package with its onnx extra ({error})") from error
            model = StackMixHTROnnxModel.from_model(model, num_threads=num_threads)
        elif backend != "pytorch":
            raise ValueError(f"backend must be 'pytorch' or 'onnx', got {backend!r}")
        super().__init__(model, *args, **kwargs)

    def _sanitize_parameters(self, **kwargs):
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
        return {}, {}, {}

    def preprocess(self, image):
        return self.processor(images=[image], return_tensors="pt")

    def _forward(self, model_inputs):
        outputs = self.model(pixel_values=model_inputs["pixel_values"], pixel_mask=model_inputs["pixel_mask"])
        return {"logits": outputs.logits, "output_lengths": outputs.output_lengths}

    def postprocess(self, model_outputs):
        length = int(model_outputs["output_lengths"][0])
        logits = model_outputs["logits"][0, :length].float()
        best_probability, best_id = torch.softmax(logits, dim=-1).max(dim=-1)
        text = self.processor.batch_decode(best_id[None])[0]
        return {"text": text, "score": self._score(best_id.tolist(), best_probability.tolist())}

    def _score(self, frame_ids: list[int], frame_probabilities: list[float]) -> float:
        blank = self.processor.tokenizer.pad_token_id
        character_scores = []
        all_frames = []
        position = 0
        for class_id, run in itertools.groupby(frame_ids):
            run_length = len(list(run))
            probabilities = frame_probabilities[position : position + run_length]
            position += run_length
            all_frames.extend(probabilities)
            if class_id != blank:
                character_scores.append(sum(probabilities) / run_length)
        scores = character_scores or all_frames
        return float(sum(scores) / len(scores)) if scores else 0.0

    def save_pretrained(self, save_directory, **kwargs):
        """Save model, processor and this pipeline's code (`custom_pipelines` in config.json)."""
        super().save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory, **kwargs)


def register_pipeline() -> None:
    """Register the task with transformers' pipeline registry (done on package import)."""
    PIPELINE_REGISTRY.register_pipeline(
        TASK, pipeline_class=HandwritingRecognitionPipeline, pt_model=AutoModelForCTC, type="image"
    )


__all__ = ["HandwritingRecognitionPipeline", "register_pipeline", "TASK"]
