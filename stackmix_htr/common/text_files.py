"""Plain-text inputs (corpora), read line by line with errors that name the exact line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from .errors import InputError


class TextFileError(InputError):
    """A text file that cannot be read as UTF-8; the message names the file and the line."""


def utf8_lines(path: str | os.PathLike, what: str = "file") -> Iterator[str]:
    """The lines of a UTF-8 text file, each with its line ending, decoded one at a time so that an
    undecodable byte is reported at its own line (a buffered text reader decodes ahead of the lines
    it has handed out)."""
    path = Path(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise TextFileError(
                    f"{what} {path}: line {number} is not UTF-8 text ({error.reason} at byte {error.start} of the line)"
                ) from error
