"""Page images with PAGE-XML line ground truth (Transkribus, OCR-D, eScriptorium; 2013 and 2019 schemas).

RAW is the export folder or ZIP: page images with their XML beside them or in a `page/`
subfolder (Transkribus). See `data_builders.page_lines` for splits, columns and bad input.

    python -m data_builders page_xml --raw export.zip --output_dir data/mine --split 0.8,0.1,0.1 --seed 0
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .page_lines import add_page_arguments, iter_page_records, page_source_info, with_text_rules
from .records import SourceInfo, SourceItem

INFO = page_source_info("page_xml", "page")


def source_info(raw_dir: Path, text_rules: str = "none", **_) -> SourceInfo:
    return with_text_rules(INFO, text_rules)


def iter_records(raw_dir: Path, text_rules: str = "none", **options) -> Iterator[SourceItem]:
    return iter_page_records(raw_dir, "page", **options)


add_arguments = add_page_arguments
