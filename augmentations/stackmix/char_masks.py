"""Character boxes of training lines from a trained CTC recognizer (the input of the StackMix bank).

    python -m augmentations.stackmix char-masks --model CKPT --dataset DATASET --output_dir MASKS [--method forced]

For each line of a split, the model's per-frame log-probabilities give a frame run per
character of the (text-rules preprocessed) transcription:

* `greedy` (the paper's rule): only lines whose greedy path emits exactly the transcription's
  characters; a character's run is its run of equal argmax frames.
* `forced` (default): a CTC forced alignment (Viterbi) of the transcription for every line whose
  frames can hold it, so imperfectly recognised lines get boxes too.

Runs become boxes in original-image pixels by the rules of
`stackmix_htr.recognition.alignment.runs_to_boxes`: frames map to columns by where the model's
frames actually look (measured once per run by `frame_mapping.measure_frame_mapping`, or the
nominal half-stride centre with `--frame_mapping nominal`), then cuts go to the least-inked column
between neighbouring characters (`--cuts ink`, default) or halfway between their spans
(`--cuts midpoint`, the paper's rule). The score of a line is the mean per-frame log-probability
of its path; `--min_score` drops poorly aligned lines.

The output is a dataset folder keyed by `sample_id` with columns sample_id, text (preprocessed,
the concatenation of the box labels), boxes (list of {label, x1, x2}), score, method.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import datasets
import numpy as np
import pyarrow as pa
import torch

from data_builders.writer import Part, write_dataset_folder
from modeling_stackmix_htr.ctc_decoding import greedy_runs
from stackmix_htr.common.errors import InputError
from stackmix_htr.recognition.alignment import CUT_RULES, forced_align, forced_runs, runs_to_boxes
from stackmix_htr.recognition.batches import dataset_loader, forward_batches
from stackmix_htr.recognition.frame_mapping import FrameMapping, NoCharacterEmittedError, measure_frame_mapping

from ..image_arrays import to_uint8_array
from .images import has_light_background, ink_mask, to_gray

logger = logging.getLogger(__name__)

METHODS = ("forced", "greedy")
FRAME_MAPPINGS = ("measured", "nominal")
MAPPING_PROBE_LINES = 8  # lines whose CTC spikes are probed to measure the frame -> column mapping
CHAR_MASK_FEATURES = datasets.Features(
    {
        "sample_id": datasets.Value("string"),
        "text": datasets.Value("string"),
        "boxes": datasets.List(
            {"label": datasets.Value("string"), "x1": datasets.Value("int32"), "x2": datasets.Value("int32")}
        ),
        "score": datasets.Value("float32"),
        "method": datasets.Value("string"),
    }
)


@dataclass
class CharMaskReport:
    """Counts of a char-masks run; coverage = lines with boxes / lines."""

    method: str
    cuts: str = "ink"
    mapping: FrameMapping | None = None
    lines: int = 0
    with_boxes: int = 0
    greedy_exact: int = 0
    forced_alignable: int = 0
    skipped: Counter = field(default_factory=Counter)

    def coverage(self, count: int) -> float:
        return count / self.lines if self.lines else 0.0

    def summary(self) -> str:
        skipped = ", ".join(f"{reason}: {count}" for reason, count in sorted(self.skipped.items())) or "none"
        mapping = (
            ""
            if self.mapping is None
            else f"frame f reads column {self.mapping.stride:g} f {self.mapping.offset:+.2f}; "
        )
        return (
            f"method {self.method}, cuts {self.cuts}: {mapping}{self.with_boxes}/{self.lines} lines with boxes "
            f"(coverage {self.coverage(self.with_boxes):.1%}); "
            f"greedy exact {self.greedy_exact} ({self.coverage(self.greedy_exact):.1%}), "
            f"forced alignable {self.forced_alignable} ({self.coverage(self.forced_alignable):.1%}); "
            f"skipped: {skipped}"
        )


def ink_profile(image: np.ndarray) -> np.ndarray:
    """Ink pixels per column of a line image (Otsu binarisation; the ink is the minority side)."""
    gray = to_gray(image)
    return ink_mask(gray, dark_ink=has_light_background(gray)).sum(axis=0)


def align_line(
    log_probs: np.ndarray,
    label_ids: list[int],
    text: str,
    mapping: FrameMapping,
    scale: float,
    image_width: int,
    method: str,
    blank_id: int = 0,
    cuts: str = "midpoint",
    profile: np.ndarray | None = None,
    char_offset: float = 0.0,
    space_offset: float = 0.0,
) -> tuple[dict[str, tuple[list[dict], float] | None], str | None]:
    """Boxes of one line by both methods.

    log_probs: (T, V) of the line's valid frames; scale: original columns per model-input column;
    profile: the line's ink per original column (for cuts="ink"). Returns
    ({method: (boxes, score) or None}, reason) where reason says why the chosen method gave no boxes.
    """
    num_frames = log_probs.shape[0]

    def boxes(runs):
        return runs_to_boxes(
            runs, text, num_frames, mapping, scale, image_width, cuts, profile, char_offset, space_offset
        )

    results: dict[str, tuple[list[dict], float] | None] = {}
    argmax = log_probs.argmax(axis=1)
    emitted, runs = greedy_runs(argmax, blank_id)
    if emitted == label_ids:
        results["greedy"] = (boxes(runs), float(log_probs[np.arange(num_frames), argmax].mean()))
    else:
        results["greedy"] = None
    alignment = forced_align(log_probs, label_ids, blank_id)
    if alignment is None:
        results["forced"] = None
    else:
        states, path_log_prob = alignment
        results["forced"] = (boxes(forced_runs(states, len(label_ids))), path_log_prob / num_frames)
    reason = None
    if results[method] is None:
        reason = "greedy decoding differs" if method == "greedy" else "too long for the frames"
    return results, reason


def probe_frame_mapping(model, processor, dataset: datasets.Dataset, lines: int = MAPPING_PROBE_LINES) -> FrameMapping:
    """Measure where the model's frames look (see `frame_mapping`) on the first `lines` lines of `dataset`."""
    images = [to_uint8_array(image) for image in dataset.select(range(min(lines, len(dataset))))["image"]]
    inputs = processor.image_processor(images, return_tensors="pt")
    device = next(model.parameters()).device
    try:
        mapping, probed = measure_frame_mapping(
            model, inputs["pixel_values"].to(device), inputs["pixel_mask"].to(device)
        )
    except NoCharacterEmittedError as error:
        raise InputError(
            f"the model emits no character on the first {len(images)} train lines (it reads them all as blank: "
            "still on the CTC blank plateau?), so it can place no character box; train it longer, or start "
            "from a trained model (train_accelerate.py --init_from)"
        ) from error
    logger.info(
        f"frame f reads input column {mapping.stride:g} f {mapping.offset:+.2f} (median over {probed} CTC spikes)"
    )
    return mapping


def compute_char_masks(
    model,
    processor,
    dataset: datasets.Dataset,
    method: str = "forced",
    batch_size: int = 8,
    min_score: float | None = None,
    cuts: str = "ink",
    mapping: FrameMapping | None = None,
    char_offset: float = 0.0,
    space_offset: float = 0.0,
) -> tuple[list[dict], CharMaskReport]:
    """Run `model` over `dataset` (columns sample_id, image, text) and return (rows, report).

    mapping: the frame -> column mapping; measured on the first lines of `dataset` when None.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if cuts not in CUT_RULES:
        raise ValueError(f"cuts must be one of {CUT_RULES}, got {cuts!r}")
    from modeling_stackmix_htr import OutOfVocabularyError, get_text_rules

    rules = get_text_rules(processor.text_rules)
    blank_id = processor.blank_id
    device = next(model.parameters()).device
    mapping = mapping or probe_frame_mapping(model, processor, dataset)
    report, rows = CharMaskReport(method, cuts, mapping), []
    loader = dataset_loader(
        dataset.select_columns(["sample_id", "image", "text"]), processor, batch_size, keep_images=True
    )
    for batch, outputs in forward_batches(model, loader, device):
        images = [to_uint8_array(image) for image in batch["images"]]
        report.lines += len(images)
        texts, label_ids = [], []
        for sample_id, raw_text in zip(batch["sample_id"], batch["text"]):
            text = rules.preprocess(raw_text)
            try:
                ids = processor.encode_text([raw_text], sample_ids=[sample_id])[0]
            except OutOfVocabularyError as error:
                logger.debug("%s", error)
                ids = None
            texts.append(text)
            label_ids.append(ids if ids is not None and len(ids) == len(text) else None)
        log_probs = torch.log_softmax(outputs.logits.float(), dim=-1).cpu().numpy()
        lengths = outputs.output_lengths.cpu().numpy()
        valid_widths = batch["pixel_mask"].sum(dim=1).numpy()
        for index, (sample_id, text, ids) in enumerate(zip(batch["sample_id"], texts, label_ids)):
            if not text:
                report.skipped["empty text"] += 1
                continue
            if ids is None:
                report.skipped["out of vocabulary"] += 1
                continue
            width = images[index].shape[1]
            results, reason = align_line(
                log_probs[index, : lengths[index]],
                ids,
                text,
                mapping,
                width / valid_widths[index],
                width,
                method,
                blank_id,
                cuts,
                ink_profile(images[index]) if cuts == "ink" else None,
                char_offset,
                space_offset,
            )
            report.greedy_exact += results["greedy"] is not None
            report.forced_alignable += results["forced"] is not None
            if reason is not None:
                report.skipped[reason] += 1
                continue
            boxes, score = results[method]
            if min_score is not None and score < min_score:
                report.skipped["score below min_score"] += 1
                continue
            rows.append({"sample_id": sample_id, "text": text, "boxes": boxes, "score": score, "method": method})
            report.with_boxes += 1
    return rows, report


def save_char_masks(rows: list[dict], report: CharMaskReport, output_dir, split: str, source: dict, overwrite=False):
    """Write rows as a dataset folder (one split) with a card recording the source and coverage."""
    table = pa.Table.from_pylist(rows, schema=CHAR_MASK_FEATURES.arrow_schema)

    def card():
        metadata = {
            "tags": ["stackmix", "char-masks", "handwriting-recognition"],
            "char_masks": {
                **source,
                "split": split,
                "method": report.method,
                "cuts": report.cuts,
                "frame_mapping": None if report.mapping is None else vars(report.mapping),
                "lines": report.lines,
                "with_boxes": report.with_boxes,
                "greedy_exact": report.greedy_exact,
                "forced_alignable": report.forced_alignable,
                "skipped": dict(report.skipped),
            },
        }
        body = f"""# Character boxes

Horizontal character boxes (`[{{label, x1, x2}}, ...]`, original-image pixels) of split `{split}` of
`{source["dataset"]}`, from model `{source["model"]}` by the `{report.method}` method with `{report.cuts}` cuts.

{report.summary()}
"""
        return metadata, body

    return write_dataset_folder(
        output_dir, [Part("default", split, CHAR_MASK_FEATURES, [table])], card, overwrite=overwrite
    )
