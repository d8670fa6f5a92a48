"""How faithful generated lines are: a trained model reads StackMix lines and real lines of the same texts.

    python -m augmentations.stackmix score --bank BANK --model CKPT --dataset DS [--split validation] [--num N]

The texts are the split's transcriptions (after the model's text rules), so the model never trained
on them and neither did the bank (built from the train split). Each text is rendered once by the
generator; the model reads the generated lines and the split's real images of the same lines. The
ratio of the two CERs (`fidelity_ratio` = CER on generated / CER on real) says how much harder a
generated line is to read than a real one: 1.0 means the slices and joins cost nothing; a ratio of
2 means the generated lines carry as many faults of their own as the model makes on real lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stackmix_htr.metrics import count_edits, line_cer

from ..image_arrays import to_uint8_array
from .generator import StackMixGenerator
from .grid import render_grid


@dataclass
class FidelityReport:
    """CERs of one model on real and generated lines of the same texts, and the worst generated lines."""

    lines: int
    unrenderable: int
    real_cer: float
    generated_cer: float
    worst: list[tuple[str, str, np.ndarray]]  # (reference, reading, generated image), worst first

    @property
    def ratio(self) -> float:
        return self.generated_cer / self.real_cer if self.real_cer > 0 else float("inf")

    def summary(self) -> str:
        return (
            f"lines={self.lines} unrenderable={self.unrenderable} real_cer={self.real_cer:.4f} "
            f"generated_cer={self.generated_cer:.4f} fidelity_ratio={self.ratio:.3f}"
        )


def read_lines(model, processor, images: list[np.ndarray], batch_size: int = 16) -> list[str]:
    """The model's readings of line images, in their order (the recognition pipeline: width-sorted batches)."""
    from transformers import pipeline

    from modeling_stackmix_htr.pipeline_stackmix_htr import TASK

    recognizer = pipeline(TASK, model=model.eval(), processor=processor, device=next(model.parameters()).device)
    return [result["text"] for result in recognizer(images, batch_size=batch_size)]


def score_fidelity(
    generator: StackMixGenerator,
    model,
    processor,
    dataset,
    num: int | None = None,
    seed: int = 0,
    worst: int = 16,
    batch_size: int = 16,
) -> FidelityReport:
    """Read `num` generated lines (texts of `dataset`, columns image and text) and their real images.

    Lines whose text holds characters outside the bank are left out (counted as unrenderable);
    `num` lines are drawn at random from the rest (all when None or larger).
    """
    from modeling_stackmix_htr import get_text_rules

    rules = get_text_rules(processor.text_rules)
    texts = [rules.preprocess(text) for text in dataset["text"]]
    renderable = [index for index, text in enumerate(texts) if generator.can_render(text)]
    if not renderable:
        raise ValueError("no line of the split can be rendered with the bank's characters")
    unrenderable = len(texts) - len(renderable)
    rng = np.random.default_rng(seed)
    if num is not None and num < len(renderable):
        renderable = sorted(rng.choice(renderable, size=num, replace=False).tolist())
    references = [texts[index] for index in renderable]
    generated = [generator.generate(text, rng) for text in references]
    real = [to_uint8_array(image) for image in dataset.select(renderable)["image"]]
    real_readings = read_lines(model, processor, real, batch_size)
    generated_readings = read_lines(model, processor, generated, batch_size)
    line_errors = [line_cer(reading, reference) for reading, reference in zip(generated_readings, references)]
    worst_lines = [
        (references[i], generated_readings[i], generated[i])
        for i in np.argsort(line_errors, kind="stable")[::-1][:worst]
    ]
    return FidelityReport(
        lines=len(references),
        unrenderable=unrenderable,
        real_cer=count_edits(real_readings, references, "char").rate,
        generated_cer=count_edits(generated_readings, references, "char").rate,
        worst=worst_lines,
    )


def worst_lines_grid(report: FidelityReport):
    """The worst generated lines, each under its reference and the model's reading (a PIL image)."""
    return render_grid([(f"ref:  {reference}\nread: {reading}", image) for reference, reading, image in report.worst])
