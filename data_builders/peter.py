"""Digital Peter (manuscripts of Peter the Great, Russian, early 18th century).

Raw layout (the official download):
    images/<id>.jpg
    words/<id>.txt
    mapper.csv    columns new_name (image file name) and booleans train, public, private
                  (train -> train, public -> validation, private -> test; a row with none set -> train)
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
    iter_csv_rows,
    read_line_transcription,
    require_dir,
    require_file,
)

INFO = SourceInfo(
    name="peter",
    pretty_name="Digital Peter",
    text_rules="peter",
    homepage="https://github.com/MarkPotanin/DigitalPeter",
    license="other",
    license_terms="see the Digital Peter repository",
    language=("ru",),
    description=(
        "Text lines from manuscripts of Peter the Great (early 18th century Russian), from the Digital "
        "Peter competition; splits from mapper.csv (public -> validation, private -> test)."
    ),
    citation="""@inproceedings{potanin2021digital,
  title     = {Digital {Peter}: New Dataset, Competition and Handwriting Recognition Methods},
  author    = {Potanin, Mark and Dimitrov, Denis and Shonenkov, Alex and Bataev, Vladimir and Karachev, Denis
               and Novopoltsev, Maxim and Chertok, Andrey},
  booktitle = {The 6th International Workshop on Historical Document Imaging and Processing},
  year      = {2021}
}""",
)

FLAG_TO_SPLIT = {"train": "train", "public": "validation", "private": "test"}
TRUE_VALUES = {"true", "1", "1.0", "yes", "y", "t"}


def iter_records(raw_dir: Path) -> Iterator[SourceItem]:
    image_dir = require_dir(raw_dir / "images", "Digital Peter images folder")
    text_dir = require_dir(raw_dir / "words", "Digital Peter words folder")
    rows = iter_csv_rows(require_file(raw_dir / "mapper.csv", "Digital Peter mapper.csv"), ("new_name", *FLAG_TO_SPLIT))
    listed = set()
    for row in rows:
        image_name = row["new_name"].strip()
        sample_id = Path(image_name).stem
        listed.add(sample_id)
        splits = [split for flag, split in FLAG_TO_SPLIT.items() if str(row[flag]).strip().lower() in TRUE_VALUES]
        if len(splits) > 1:
            yield Invalid(sample_id, "flagged for several splits in mapper.csv", ", ".join(splits))
            continue
        text_file = text_dir / f"{sample_id}.txt"
        text = read_line_transcription(sample_id, text_file)
        if isinstance(text, Invalid):
            yield text
            continue
        split = splits[0] if splits else "train"
        yield Record(sample_id, split, text, image_dir / image_name)
    unlisted = sum(1 for path in text_dir.glob("*.txt") if path.stem not in listed)
    if unlisted:
        yield Excluded(unlisted, "transcription not listed in mapper.csv")
