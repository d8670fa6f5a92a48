"""Start-up checks of a dataset against a processor and a model configuration.

They run over every line before training, so that a bad dataset stops the run (unknown
characters) or is reported (lines the model cannot emit, characters no training line has)
instead of failing mid-epoch or silently.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from accelerate.logging import get_logger

from modeling_stackmix_htr import OutOfVocabularyError, get_text_rules
from stackmix_htr.common.atomic import write_file_atomic
from stackmix_htr.common.errors import InputError

logger = get_logger(__name__)


@dataclass
class OutOfVocabularyReport:
    """Characters outside the vocabulary, each with the number of lines holding it and the first ids."""

    counts: dict[str, int] = field(default_factory=dict)
    sample_ids: dict[str, list[str]] = field(default_factory=dict)

    def add(self, char: str, sample_id: str, max_ids: int = 5) -> None:
        self.counts[char] = self.counts.get(char, 0) + 1
        ids = self.sample_ids.setdefault(char, [])
        if len(ids) < max_ids:
            ids.append(sample_id)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def format(self, what: str = "are not in the vocabulary") -> str:
        lines = [f"{len(self.counts)} character(s) {what}:"]
        for char in sorted(self.counts):
            more = ", ..." if self.counts[char] > len(self.sample_ids[char]) else ""
            lines.append(
                f"  {char!r} (U+{ord(char):04X}) in {self.counts[char]} line(s): {', '.join(self.sample_ids[char])}{more}"
            )
        return "\n".join(lines)


def encode_all(
    processor, texts: Sequence[str], sample_ids: Sequence[str]
) -> tuple[list[list[int]], OutOfVocabularyReport]:
    """Label ids of every text (text rules applied by the processor) and every unknown character.

    Returns:
        the ids per line (empty for lines with unknown characters) and the report of those characters.
    """
    report = OutOfVocabularyReport()
    label_ids = []
    for text, sample_id in zip(texts, sample_ids):
        try:
            label_ids.append(processor.encode_text([text], sample_ids=[sample_id])[0])
        except OutOfVocabularyError as error:
            for char in error.characters:
                report.add(char, str(sample_id))
            label_ids.append([])
    return label_ids, report


def characters_unseen_in_train(
    text_rules: str, train_texts: Sequence[str], texts: Sequence[str], sample_ids: Sequence[str]
) -> OutOfVocabularyReport:
    """Characters of `texts` that no line of `train_texts` has (both after the text rules): the
    model never learns them, even when they are in its vocabulary."""
    rules = get_text_rules(text_rules)
    trained = set()
    for text in train_texts:
        trained.update(rules.preprocess(text))
    report = OutOfVocabularyReport()
    for text, sample_id in zip(texts, sample_ids):
        for char in sorted(set(rules.preprocess(text)) - trained):
            report.add(char, str(sample_id))
    return report


def ctc_required_frames(label_ids: Sequence[int]) -> int:
    """Frames CTC needs to emit a label: one per character plus a blank between equal neighbours."""
    repeats = sum(1 for previous, current in zip(label_ids, label_ids[1:]) if previous == current)
    return len(label_ids) + repeats


def output_frames(image_processor, width: int, height: int, stride: int) -> int:
    """Frames the model outputs for an image of this size: ceil(resized width / stride)."""
    resized_width, _ = image_processor.fit_size(int(width), int(height))
    return -(-resized_width // stride)


def find_unfit_lines(
    label_ids: Sequence[Sequence[int]], frames: Sequence[int], sample_ids: Sequence[str]
) -> list[tuple[str, int, int]]:
    """Lines whose label needs more CTC frames than the model outputs for their image.

    Returns:
        (sample_id, required frames, available frames) for each such line.
    """
    unfit = []
    for ids, available, sample_id in zip(label_ids, frames, sample_ids):
        required = ctc_required_frames(ids)
        if required > available:
            unfit.append((str(sample_id), required, int(available)))
    return unfit


def check_lines(accelerator, processor, config, splits, sizes, output_dir: Path):
    """Stop on characters outside the vocabulary (train and validation); report lines too long for the model."""
    problems = []
    unfit = []
    for split_name, split in splits.items():
        texts, sample_ids = split["text"], split["sample_id"]
        label_ids, oov = encode_all(processor, texts, sample_ids)
        if oov:
            problems.append(f"split {split_name!r}: {oov.format()}")
            continue
        widths, heights = sizes[split_name]
        frames = [output_frames(processor.image_processor, w, h, config.width_stride) for w, h in zip(widths, heights)]
        unfit += [(split_name, *line) for line in find_unfit_lines(label_ids, frames, sample_ids)]
    if problems:
        raise InputError(
            "The transcriptions hold characters outside the vocabulary "
            f"(text rules {processor.text_rules!r}); fix the data, the text rules or --vocab:\n" + "\n".join(problems)
        )
    if unfit and accelerator.is_main_process:
        shown = ", ".join(f"{split}:{sample_id} ({need}>{have})" for split, sample_id, need, have in unfit[:10])
        more = f" and {len(unfit) - 10} more" if len(unfit) > 10 else ""
        logger.warning(
            f"{len(unfit)} line(s) need more CTC frames than the model outputs for their width "
            f"(label length + repeats > frames); they train with zero loss and cannot be read fully: {shown}{more}. "
            "All are listed in unfit_lines.json. A taller --image_height gives each line more frames "
            f"(one per {config.width_stride} pixel columns)."
        )
        rows = [{"split": s, "sample_id": i, "required_frames": n, "frames": f} for s, i, n, f in unfit]
        write_file_atomic(output_dir / "unfit_lines.json", json.dumps(rows, indent=1).encode("utf-8"))
    return unfit


def warn_unseen_characters(processor, train_split, eval_splits) -> None:
    """Warn about validation and test characters that no training line has: the model never learns them."""
    train_texts = train_split["text"]
    for name, split in eval_splits.items():
        report = characters_unseen_in_train(processor.text_rules, train_texts, split["text"], split["sample_id"])
        if report:
            what = "occur in no training line, so the model never learns them"
            logger.warning(f"split {name!r}: {report.format(what)}", main_process_only=True)
