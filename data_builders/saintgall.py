"""Saint Gall database (Latin, 9th century; Codex Sangallensis 562).

Raw layout (the official download):
    data/line_images_normalized/<line id>.png
    ground_truth/transcription.txt   "<line id> <glyph spelling> <edition words>"
    sets/{train,valid,test}.txt      PAGE ids; a line's page id is its id minus the last "-NN"

The glyph spelling joins the glyphs of a word with "-" and the words with "|"; the glyph "pt" is a
punctuation mark (".") and "et" the ligature "&". Decoded text joins glyphs directly and words
with a space: "h-a-b-e-r-e-t-u-r-pt|et|v-e-l-u-t-i" -> "haberetur. & veluti".
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
    iter_utf8_lines,
    require_dir,
    require_file,
    split_lists_to_map,
    undecodable_line,
)

INFO = SourceInfo(
    name="saintgall",
    pretty_name="Saint Gall",
    text_rules="saintgall",
    homepage="https://fki.tic.heia-fr.ch/databases/saint-gall-database",
    license="other",
    license_terms="Saint Gall database terms: non-commercial research and teaching only",
    language=("la",),
    metadata_columns=("page_id",),
    description=(
        "Text lines of the Saint Gall database: 60 pages of a 9th-century Latin manuscript (Codex "
        "Sangallensis 562), binarized and height-normalized line images, official page-level splits. "
        '`text` is the glyph transcription decoded to characters ("pt" -> ".", "et" -> "&").'
    ),
    citation="""@inproceedings{fischer2011transcription,
  title     = {Transcription Alignment of {Latin} Manuscripts using Hidden {Markov} Models},
  author    = {Fischer, Andreas and Frinken, Volkmar and Forn{\\'e}s, Alicia and Bunke, Horst},
  booktitle = {Proceedings of the 1st International Workshop on Historical Document Imaging and Processing},
  pages     = {29--36},
  year      = {2011}
}""",
)

GLYPHS = {"pt": ".", "et": "&"}
SPLIT_FILES = {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}


def decode_glyph_spelling(spelling: str) -> str:
    """ "v-e-r-s-a|h-a-b-e-r-e-t-u-r-pt|et" -> "versa haberetur. &"."""
    words = ("".join(GLYPHS.get(glyph, glyph) for glyph in word.split("-")) for word in spelling.split("|"))
    return " ".join(word for word in words if word)


def page_id(line_id: str) -> str:
    return line_id.rsplit("-", 1)[0]


def iter_records(raw_dir: Path) -> Iterator[SourceItem]:
    raw_dir = Path(raw_dir)
    image_dir = require_dir(raw_dir / "data" / "line_images_normalized", "Saint Gall line image folder")
    transcription = require_file(raw_dir / "ground_truth" / "transcription.txt", "Saint Gall transcription file")
    page_to_split = split_lists_to_map({split: [raw_dir / "sets" / name] for split, name in SPLIT_FILES.items()})
    not_in_split = 0
    for number, line, raw in iter_utf8_lines(transcription):
        if line is None:
            yield undecodable_line(raw, number, transcription)
            continue
        fields = line.split()
        if not fields:
            continue
        line_id = fields[0]
        if len(fields) < 2:
            yield Invalid(line_id, "malformed transcription row", f"{transcription}:{number}")
            continue
        split = page_to_split.get(page_id(line_id))
        if split is None:
            not_in_split += 1
            continue
        yield Record(
            sample_id=line_id,
            split=split,
            text=decode_glyph_spelling(fields[1]),
            image=image_dir / f"{line_id}.png",
            metadata={"page_id": page_id(line_id)},
        )
    if not_in_split:
        yield Excluded(not_in_split, "page not listed in sets/{train,valid,test}.txt")
