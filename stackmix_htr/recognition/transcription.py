"""Transcribing page exports and line images into files: finding the inputs, reading and cutting
them, and writing each file's transcription once its lines are read (see `transcribe.py`).

Inputs are never modified, outputs stay inside the output folder and are never taken as inputs,
and each output is written atomically, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from modeling_stackmix_htr.pipeline_stackmix_htr import SORT_WINDOW_BATCHES
from stackmix_htr.common.atomic import write_file_atomic
from stackmix_htr.common.errors import InputError
from stackmix_htr.page_formats import (
    FORMAT_NAMES,
    IMAGE_SUFFIXES,
    PageError,
    PageFile,
    PageLayout,
    PageSource,
    convert,
    cut_lines,
    find_pages,
    load_page,
    write_recognised,
)
from stackmix_htr.page_formats.files import page_root
from stackmix_htr.page_formats.formats import sniff_format

OUTPUT_FORMATS = ("page", "alto", "txt", "jsonl")


class TranscriptionError(InputError):
    """An input that cannot be transcribed; the message names it and says why."""


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class InputFile:
    """One page (an XML file) or one line image, inside `root` (a folder or a ZIP archive)."""

    root: Path
    name: str  # path inside root
    layout_format: str | None  # "page" or "alto" for pages, None for line images
    output_name: str  # path under --output_dir, without suffix

    @property
    def is_page(self) -> bool:
        return self.layout_format is not None

    @property
    def label(self) -> str:
        return str(self.root / self.name) if self.root.is_dir() else f"{self.root}:{self.name}"

    def output_suffix(self, output_format: str | None) -> str:
        kind = output_format or ("xml" if self.is_page else "txt")
        return ".xml" if kind in ("page", "alto", "xml") else f".{kind}"


def _without_suffix(name: str) -> str:
    return os.path.splitext(name)[0]


def _files_of_tree(path: Path, skip_invalid: bool, output_dir: Path) -> list[InputFile]:
    try:
        source = PageSource(path)
    except zipfile.BadZipFile as error:
        raise TranscriptionError(f"{path}: not a readable ZIP archive ({error})") from error
    with source:
        names = source.names()
        if source.unsafe_names:
            shown = ", ".join(source.unsafe_names[:3]) + (", ..." if len(source.unsafe_names) > 3 else "")
            print(
                f"skipped {len(source.unsafe_names)} entries of {path} with an absolute name, a drive letter or "
                f"a '..' part (they would be read and written outside their folders): {shown}",
                file=sys.stderr,
            )
        if (
            path.is_dir()
            and output_dir.resolve().is_relative_to(path.resolve())
            and output_dir.resolve() != path.resolve()
        ):
            # Outputs of an earlier run written inside this input folder are never inputs.
            inside = output_dir.resolve().relative_to(path.resolve()).as_posix() + "/"
            names = [name for name in names if not name.startswith(inside)]
        pages, _, unreadable = find_pages(source, names)
        for name, error in unreadable:
            message = f"{source.label(name)}: {error}"
            if not skip_invalid:
                raise TranscriptionError(f"{message} (pass --skip_invalid to leave such files out)")
            print(f"skipped {message}", file=sys.stderr)
        if pages or unreadable:  # a page folder, even when every XML in it is broken
            return [InputFile(path, page.xml_name, page.format, _without_suffix(page.xml_name)) for page in pages]
        images = [name for name in names if name.lower().endswith(IMAGE_SUFFIXES)]
    if not images or not path.is_dir():
        raise TranscriptionError(f"{path}: no PAGE-XML, ALTO or image files in it")
    return [InputFile(path, name, None, _without_suffix(name)) for name in images]


def find_input_files(inputs: list[str], skip_invalid: bool, output_dir: Path) -> list[InputFile]:
    """Every page and line image of the inputs, in a fixed order (every process sees the same);
    nothing under `output_dir`."""
    files = []
    for given in inputs:
        path = Path(given)
        if not path.exists():
            raise TranscriptionError(f"input not found: {given}")
        if path.is_dir() or (path.suffix.lower() == ".zip" and path.is_file()):
            files += _files_of_tree(path, skip_invalid, output_dir)
        elif path.suffix.lower() == ".xml":
            try:
                with open(path, "rb") as handle:
                    layout_format = sniff_format(handle)
            except PageError as error:
                raise TranscriptionError(f"{path}: {error}") from error
            if layout_format is None:
                raise TranscriptionError(f"{path}: not a PAGE-XML or ALTO file")
            root = page_root(path)
            files.append(InputFile(root, path.relative_to(root).as_posix(), layout_format, path.stem))
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            files.append(InputFile(path.parent, path.name, None, path.stem))
        else:
            raise TranscriptionError(
                f"{path}: not a folder, ZIP archive, XML file or image ({', '.join(IMAGE_SUFFIXES)})"
            )
    return files


def output_paths(files: list[InputFile], output_dir: Path, output_format: str | None) -> list[Path]:
    """Where each file's transcription goes; two inputs with one output, or an output that would
    replace an input, are errors."""
    if output_format in ("page", "alto") and not all(file.is_page for file in files):
        raise TranscriptionError(f"--format {output_format} needs pages; line images give txt or jsonl")
    paths, claimed = [], {}
    for file in files:
        path = output_dir / (file.output_name + file.output_suffix(output_format))
        if not path.resolve().is_relative_to(output_dir.resolve()):
            raise TranscriptionError(f"{file.label} would be written outside --output_dir ({path})")
        other = claimed.setdefault(path, file)
        if other is not file:
            raise TranscriptionError(
                f"{file.label} and {other.label} would both be written to {path}; transcribe them separately"
            )
        if file.root.is_dir() and path.resolve() == (file.root / file.name).resolve():
            raise TranscriptionError(f"{path} would replace the input {file.label}; choose another --output_dir")
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------- reading


@dataclass
class ReadFile:
    """An input file ready for recognition: its lines fitted to the model, or why it is unusable."""

    file: InputFile
    lines: list[np.ndarray] = field(default_factory=list)
    line_indices: list[int] = field(default_factory=list)  # page lines in document order
    xml: bytes = b""
    layout: PageLayout | None = None
    lines_not_cut: int = 0
    problem: str | None = None


class InputFiles(Dataset):
    """Reads input files (in DataLoader workers when there are some): pages are decoded and their
    lines cut out and fitted, line images fitted."""

    def __init__(self, files: list[InputFile], image_processor):
        self.files, self.image_processor = files, image_processor
        self._sources: dict[Path, PageSource] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.files)

    def _source(self, root: Path) -> PageSource:
        if self._pid != os.getpid():  # a forked worker must not share its parent's open archives
            self._sources, self._pid = {}, os.getpid()
        if root not in self._sources:
            self._sources[root] = PageSource(root)
        return self._sources[root]

    def __getitem__(self, position: int) -> ReadFile:
        file = self.files[position]
        if not file.is_page:
            try:
                return ReadFile(file, [self.image_processor.fit_line(str(file.root / file.name), file.name)], [0])
            except (OSError, ValueError, TypeError) as error:
                return ReadFile(file, problem=str(error))
        try:
            page = load_page(self._source(file.root), PageFile(file.name, file.layout_format))
        except (PageError, OSError) as error:
            return ReadFile(file, problem=f"{file.label}: {error}")
        read = ReadFile(file, xml=page.xml, layout=page.layout)
        for cut in cut_lines(page):
            if cut.pixels is None:
                read.lines_not_cut += 1
                continue
            read.lines.append(self.image_processor.fit_line(cut.pixels, f"{file.label} line {cut.layout.line_id}"))
            read.line_indices.append(cut.layout.index)
        return read


def read_one(items: ReadFile) -> ReadFile:
    """DataLoader collate of one file at a time (batch_size=None hands each item through)."""
    return items


# ----------------------------------------------------------------------------- writing


def page_output(read: ReadFile, results: dict[int, tuple[str, float]], output_format: str | None) -> bytes:
    if output_format in (None, read.file.layout_format):
        return write_recognised(read.xml, results)
    if output_format in FORMAT_NAMES:
        return convert(read.layout, results, output_format)
    ordered = sorted((line for line in read.layout.lines if line.index in results), key=lambda line: line.reading_order)
    if output_format == "txt":
        return "".join(results[line.index][0] + "\n" for line in ordered).encode("utf-8")
    rows = (
        {
            "line_id": line.line_id,
            "region_id": line.region_id,
            "reading_order": line.reading_order,
            "text": results[line.index][0],
            "score": round(results[line.index][1], 6),
        }
        for line in ordered
    )
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def line_image_output(read: ReadFile, text: str, score: float, output_format: str | None) -> bytes:
    if output_format == "jsonl":
        row = {"image": read.file.name, "text": text, "score": round(score, 6)}
        return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    return (text + "\n").encode("utf-8")


# ----------------------------------------------------------------------------- main


@dataclass
class Counts:
    pages: int = 0
    line_images: int = 0
    lines: int = 0
    lines_not_cut: int = 0
    skipped_done: int = 0
    skipped_invalid: int = 0
    seconds: float = 0.0


def recognise(recognizer, lines: list[np.ndarray], batch_size: int, decoding: dict) -> list[tuple[str, float]]:
    """(text, confidence) of every line: the one place lines meet the model and the decoder."""
    return [(result["text"], result["score"]) for result in recognizer(lines, batch_size=batch_size, **decoding)]


def transcribe_files(
    recognizer,
    reads,
    output_of: dict[InputFile, Path],
    counts: Counts,
    bar,
    batch_size: int,
    decoding: dict,
    output_format: str | None = None,
    skip_invalid: bool = False,
) -> None:
    """Recognise the lines of the read files in windows of width-sorted batches (`decoding`: keyword arguments
    of the processor's `batch_decode`); write each file's output as soon as its window is done."""
    window, window_lines = [], 0
    window_size = batch_size * SORT_WINDOW_BATCHES

    def flush():
        nonlocal window, window_lines
        lines = [line for read in window for line in read.lines]
        results = recognise(recognizer, lines, batch_size, decoding)
        position = 0
        for read in window:
            mine = results[position : position + len(read.lines)]
            position += len(read.lines)
            if read.file.is_page:
                data = page_output(read, dict(zip(read.line_indices, mine)), output_format)
                counts.pages += 1
            else:
                data = line_image_output(read, *mine[0], output_format)
                counts.line_images += 1
            write_file_atomic(output_of[read.file], data)
            counts.lines += len(read.lines)
            counts.lines_not_cut += read.lines_not_cut
            bar.update(1)
        bar.set_postfix(lines_per_s=f"{counts.lines / max(time.perf_counter() - started, 1e-9):.1f}")
        window, window_lines = [], 0

    started = time.perf_counter()
    for read in reads:
        if read.problem is not None:
            if not skip_invalid:
                raise TranscriptionError(f"{read.problem} (pass --skip_invalid to leave such files out)")
            print(f"skipped {read.problem}", file=sys.stderr)
            counts.skipped_invalid += 1
            bar.update(1)
            continue
        window.append(read)
        window_lines += len(read.lines)
        if window_lines >= window_size:
            flush()
    if window:
        flush()
