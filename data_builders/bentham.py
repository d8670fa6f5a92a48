"""Bentham R0 (tranScriptorium, ICFHR 2014 HTRtS; English manuscripts of Jeremy Bentham, 18th-19th c.).

Raw layout (the official download; RAW_DIR may be BenthamDatasetR0-GT itself or its parent):
    BenthamDatasetR0-GT/Images/Lines/<line id>.png
    BenthamDatasetR0-GT/Transcriptions/<line id>.txt
    BenthamDatasetR0-GT/Partitions/{TrainLines,ValidationLines,TestLines}.lst   (one line id per row)
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .records import (
    Excluded,
    Invalid,
    Record,
    SourceInfo,
    SourceItem,
    read_line_transcription,
    require_dir,
    split_lists_to_map,
)

INFO = SourceInfo(
    name="bentham",
    pretty_name="Bentham R0 (tranScriptorium)",
    text_rules="bentham",
    homepage="http://tc11.cvc.uab.es/datasets/HTR%20Competition%202014_1/task_1_1",
    license="cc-by-nc-3.0",
    language=("en",),
    description=(
        "Text lines of the Bentham collection prepared in the tranScriptorium project for the ICFHR 2014 "
        "HTRtS competition (Jeremy Bentham and his secretaries), with the official partitions."
    ),
    citation="""@inproceedings{sanchez2014icfhr,
  title     = {{ICFHR2014} Competition on Handwritten Text Recognition on {tranScriptorium} Datasets ({HTRtS})},
  author    = {S{\\'a}nchez, Joan Andreu and Romero, Ver{\\'o}nica and Toselli, Alejandro H. and Vidal, Enrique},
  booktitle = {14th International Conference on Frontiers in Handwriting Recognition},
  pages     = {785--790},
  year      = {2014}
}""",
)

PARTITIONS = {"train": "TrainLines.lst", "validation": "ValidationLines.lst", "test": "TestLines.lst"}
ROOT_FOLDER = "BenthamDatasetR0-GT"


def iter_records(raw_dir: Path) -> Iterator[SourceItem]:
    root = raw_dir / ROOT_FOLDER if (raw_dir / ROOT_FOLDER).is_dir() else raw_dir
    image_dir = require_dir(root / "Images" / "Lines", "Bentham line image folder Images/Lines")
    text_dir = require_dir(root / "Transcriptions", "Bentham Transcriptions folder")
    id_to_split = split_lists_to_map({split: [root / "Partitions" / name] for split, name in PARTITIONS.items()})
    for line_id, split in id_to_split.items():
        text_file = text_dir / f"{line_id}.txt"
        text = read_line_transcription(line_id, text_file)
        if isinstance(text, Invalid):
            yield text
            continue
        yield Record(line_id, split, text, image_dir / f"{line_id}.png")
    unlisted = sum(1 for path in text_dir.glob("*.txt") if path.stem not in id_to_split)
    if unlisted:
        yield Excluded(unlisted, "transcription in none of the Partitions lists")
