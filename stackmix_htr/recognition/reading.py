"""Reading a line or a page as the demo shows it: the text, its confidence, and each character's columns
in the line image with the model's confidence in it (`character_spans`)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from stackmix_htr.page_formats import PageFile, PageSource, cut_lines, load_page, read_layout

from .character_spans import character_spans
from .frame_mapping import FrameMapping, NoCharacterEmittedError, measure_frame_mapping

MAPPING_PROBE_LINES = 2
MAPPING_PROBE_FRAMES = 8


def probe_mapping(recognizer, images: list) -> FrameMapping:
    """Measure where the model's frames look on the first line images (the nominal centres without any)."""
    model = recognizer.model
    nominal = FrameMapping.nominal(model.config.width_stride)
    images = images[:MAPPING_PROBE_LINES]
    if not images:
        return nominal
    image_processor = recognizer.processor.image_processor
    inputs = image_processor.pad_lines([image_processor.fit_line(image) for image in images])
    try:
        mapping, _ = measure_frame_mapping(
            model, inputs["pixel_values"].to(model.device), inputs["pixel_mask"].to(model.device), MAPPING_PROBE_FRAMES
        )
    except NoCharacterEmittedError:  # the model emits nothing on them
        return nominal
    return mapping


def read_line(recognizer, mapping: FrameMapping, image, decoding: dict):
    """(text, score, character spans) of one line image (a path or an array), from one forward pass of the
    "handwriting-recognition" pipeline `recognizer`; `decoding` as its call takes them."""
    processor = recognizer.processor
    image_processor = processor.image_processor
    fitted = image_processor.fit_line(image)  # first: it names an unreadable file clearly
    if isinstance(image, str):
        with Image.open(image) as opened:
            width = opened.width
    else:
        width = image.shape[1]
    outputs = recognizer.forward(image_processor.pad_lines([fitted]))
    result = recognizer.postprocess(outputs, decoding)
    frames = int(outputs["output_lengths"][0])
    probabilities = torch.softmax(outputs["logits"][0, :frames].float(), dim=-1).numpy()
    greedy = decoding["decoder"] == "greedy"
    target = None if greedy else processor.encode_text(result["text"], unknown_to_unk=True)[0]
    spans = character_spans(
        probabilities, processor.ctc_labels, mapping, width / fitted.shape[1], width, processor.blank_id, target
    )
    return result["text"], result["score"], spans


def page_lines(image_path: str, layout_path: str) -> tuple[list[tuple[str, np.ndarray]], int]:
    """The lines of a page image with its PAGE-XML or ALTO file (however the XML names the image), cut out by
    their polygons, in reading order; and how many could not be."""
    xml = Path(layout_path).read_bytes()
    layout = read_layout(xml)
    with tempfile.TemporaryDirectory() as folder:
        # The page's image and XML side by side, named so that the image is found however the XML names it.
        (Path(folder) / "page.xml").write_bytes(xml)
        shutil.copyfile(image_path, Path(folder) / f"page{Path(image_path).suffix.lower()}")
        with PageSource(folder) as source:
            page = load_page(source, PageFile("page.xml", layout.format))
    cuts = sorted(cut_lines(page), key=lambda cut: cut.layout.reading_order)
    return [(cut.layout.line_id, cut.pixels) for cut in cuts if cut.pixels is not None], sum(
        cut.pixels is None for cut in cuts
    )
