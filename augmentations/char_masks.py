"""Character boxes of training lines from a trained CTC recognizer (the input of the StackMix bank).

    python -m augmentations.char_masks --model CKPT --dataset DATASET --output_dir MASKS [--method forced]

For each line of a split, the model's per-frame log-probabilities give a frame run per
character of the (text-rules preprocessed) transcription:

* `greedy` (the paper's rule): only lines whose greedy path emits exactly the transcription's
  characters; a character's run is its run of equal argmax frames.
* `forced` (default): a CTC forced alignment (Viterbi) of the transcription for every line whose
  frames can hold it, so imperfectly recognised lines get boxes too.

Runs become boxes in original-image pixels by the rules of
`augmentations.stackmix.ctc_alignment.runs_to_boxes` (midpoint boundaries, frame -> pixel via
the model's width stride and the resize the image processor applied). The score of a line is
the mean per-frame log-probability of its path; `--min_score` drops poorly aligned lines.

The output is a dataset folder keyed by `sample_id` with columns sample_id, text (preprocessed,
the concatenation of the box labels), boxes (list of {label, x1, x2}), score, method.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import torch

from augmentations.stackmix.ctc_alignment import forced_align, forced_runs, greedy_runs, runs_to_boxes
from augmentations.stackmix.dataset_folder import Part, check_output_dir, write_dataset_folder
from augmentations.stackmix.images import to_uint8_array
from data_builders.errors import InputError, run_command
from data_builders.loading import could_be_hub_id, load_dataset_folder_or_hub

logger = logging.getLogger(__name__)

METHODS = ("forced", "greedy")
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
    lines: int = 0
    with_boxes: int = 0
    greedy_exact: int = 0
    forced_alignable: int = 0
    skipped: Counter = field(default_factory=Counter)

    def coverage(self, count: int) -> float:
        return count / self.lines if self.lines else 0.0

    def summary(self) -> str:
        skipped = ", ".join(f"{reason}: {count}" for reason, count in sorted(self.skipped.items())) or "none"
        return (
            f"method {self.method}: {self.with_boxes}/{self.lines} lines with boxes "
            f"(coverage {self.coverage(self.with_boxes):.1%}); "
            f"greedy exact {self.greedy_exact} ({self.coverage(self.greedy_exact):.1%}), "
            f"forced alignable {self.forced_alignable} ({self.coverage(self.forced_alignable):.1%}); "
            f"skipped: {skipped}"
        )


def align_line(
    log_probs: np.ndarray,
    label_ids: list[int],
    text: str,
    pixels_per_frame: float,
    image_width: int,
    method: str,
    blank_id: int = 0,
    char_offset: float = 0.0,
    space_offset: float = 0.0,
) -> tuple[dict[str, tuple[list[dict], float] | None], str | None]:
    """Boxes of one line by both methods.

    log_probs: (T, V) of the line's valid frames. Returns ({method: (boxes, score) or None}, reason)
    where reason says why the chosen method gave no boxes.
    """
    num_frames = log_probs.shape[0]
    results: dict[str, tuple[list[dict], float] | None] = {}
    argmax = log_probs.argmax(axis=1)
    emitted, runs = greedy_runs(argmax, blank_id)
    if emitted == label_ids:
        score = float(log_probs[np.arange(num_frames), argmax].mean())
        results["greedy"] = (runs_to_boxes(runs, text, num_frames, pixels_per_frame, image_width, char_offset, space_offset), score)
    else:
        results["greedy"] = None
    alignment = forced_align(log_probs, label_ids, blank_id)
    if alignment is None:
        results["forced"] = None
    else:
        states, path_log_prob = alignment
        runs = forced_runs(states, len(label_ids))
        boxes = runs_to_boxes(runs, text, num_frames, pixels_per_frame, image_width, char_offset, space_offset)
        results["forced"] = (boxes, path_log_prob / num_frames)
    reason = None
    if results[method] is None:
        reason = "greedy decoding differs" if method == "greedy" else "too long for the frames"
    return results, reason


def compute_char_masks(
    model,
    processor,
    dataset: datasets.Dataset,
    method: str = "forced",
    batch_size: int = 8,
    min_score: float | None = None,
    char_offset: float = 0.0,
    space_offset: float = 0.0,
) -> tuple[list[dict], CharMaskReport]:
    """Run `model` over `dataset` (columns sample_id, image, text) and return (rows, report)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    from modeling_stackmix_htr import OutOfVocabularyError, get_text_rules

    rules = get_text_rules(processor.text_rules)
    stride = model.config.width_stride
    blank_id = processor.blank_id
    device = next(model.parameters()).device
    report, rows = CharMaskReport(method), []
    model.eval()
    for start in range(0, len(dataset), batch_size):
        batch = dataset[start : start + batch_size]
        images = [to_uint8_array(image) for image in batch["image"]]
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
        inputs = processor.image_processor(images, return_tensors="pt")
        with torch.inference_mode():
            outputs = model(pixel_values=inputs["pixel_values"].to(device), pixel_mask=inputs["pixel_mask"].to(device))
        log_probs = torch.log_softmax(outputs.logits.float(), dim=-1).cpu().numpy()
        lengths = outputs.output_lengths.cpu().numpy()
        valid_widths = inputs["pixel_mask"].sum(dim=1).numpy()
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
                stride * width / valid_widths[index],
                width,
                method,
                blank_id,
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
            "char_masks": {**source, "split": split, "method": report.method, "lines": report.lines,
                           "with_boxes": report.with_boxes, "greedy_exact": report.greedy_exact,
                           "forced_alignable": report.forced_alignable, "skipped": dict(report.skipped)},
        }
        body = f"""# Character boxes

Horizontal character boxes (`[{{label, x1, x2}}, ...]`, original-image pixels) of split `{split}` of
`{source['dataset']}`, from model `{source['model']}` by the `{report.method}` method.

{report.summary()}
"""
        return metadata, body

    return write_dataset_folder(output_dir, [Part("default", split, CHAR_MASK_FEATURES, [table])], card, overwrite=overwrite)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="trained checkpoint folder (save_pretrained + processor)")
    parser.add_argument("--dataset", required=True, help="dataset folder or Hub id (columns sample_id, image, text)")
    parser.add_argument("--split", default="train", help="split to align (default: train)")
    parser.add_argument("--output_dir", required=True, help="where to write the char-masks dataset folder")
    parser.add_argument("--method", choices=METHODS, default="forced", help="forced (every line) or greedy (exact lines)")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--min_score", type=float, default=None, help="drop lines whose mean per-frame log-prob is lower")
    parser.add_argument("--char_offset", type=float, default=0.0, help="pixels added to boundaries between characters")
    parser.add_argument("--space_offset", type=float, default=0.0, help="pixels added to boundaries next to a space")
    parser.add_argument("--max_lines", type=int, default=None, help="use only the first N lines of the split")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    return parser.parse_args(argv)


def load_model(path: str, device: str):
    """Model and processor of a checkpoint folder (or Hub id); a problem is an InputError naming `path`."""
    from transformers import AutoModelForCTC, AutoProcessor

    import modeling_stackmix_htr  # noqa: F401  (registers the Auto classes)

    if not Path(path).is_dir() and not could_be_hub_id(path):
        raise InputError(f"--model {path}: no such folder")
    try:
        return AutoModelForCTC.from_pretrained(path).to(device), AutoProcessor.from_pretrained(path)
    except Exception as error:  # transformers, safetensors and the Hub raise many different types
        raise InputError(f"--model {path}: cannot be loaded ({type(error).__name__}: {error})") from error


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    check_output_dir(Path(args.output_dir).absolute(), args.overwrite)  # fail before the slow part
    model, processor = load_model(args.model, args.device)
    dataset = load_dataset_folder_or_hub(args.dataset, split=args.split)
    if args.max_lines is not None:
        dataset = dataset.select(range(min(args.max_lines, len(dataset))))
    rows, report = compute_char_masks(
        model, processor, dataset, args.method, args.batch_size, args.min_score, args.char_offset, args.space_offset
    )
    source = {"model": args.model, "dataset": args.dataset, "text_rules": processor.text_rules}
    save_char_masks(rows, report, args.output_dir, args.split, source, args.overwrite)
    print(report.summary())
    print(f"wrote {args.output_dir}")


if __name__ == "__main__":
    sys.exit(run_command(main))
