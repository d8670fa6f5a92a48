"""Page files as exports ship them: a folder or a ZIP archive of page images and their XML.

The XML lies beside its image or in a `page/` (Transkribus, OCR-D) or `alto/` subfolder, in any
number of nested folders (one per document). Names inside a source are POSIX paths relative to
its root; nothing outside the root is ever read: archive entries with an absolute name, a drive
letter or a `..` part are left out and listed in `PageSource.unsafe_names`.
"""

from __future__ import annotations

import os
import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .formats import sniff_format
from .layout import PageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".jp2", ".bmp", ".webp")
XML_FOLDERS = ("page", "alto")


class PageSource:
    """A folder or a ZIP archive holding page images and XML files."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._zip = zipfile.ZipFile(self.path) if self.path.is_file() else None
        if self._zip is None and not self.path.is_dir():
            raise FileNotFoundError(f"no such folder or ZIP archive: {self.path}")
        self._listings: dict[str, tuple[set[str], dict[str, str]]] = {}
        self._zip_folders: dict[str, set[str]] | None = None
        self.unsafe_names: list[str] = []  # archive entries left out by `names`

    def __enter__(self) -> "PageSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def names(self) -> list[str]:
        """Every file, sorted; hidden files and folders (".name") and macOS resource forks left out."""
        if self._zip is not None:
            names = [info.filename for info in self._zip.infolist() if not info.is_dir()]
            self.unsafe_names = [name for name in names if not is_safe_name(name)]
            names = [name for name in names if is_safe_name(name)]
        else:
            names = []
            for folder, subfolders, files in os.walk(self.path):
                subfolders[:] = [name for name in subfolders if not name.startswith(".")]
                relative = Path(folder).relative_to(self.path).as_posix()
                names += [posixpath.join(relative, name) if relative != "." else name for name in files]
        return sorted(name for name in names if not any(part.startswith((".", "__MACOSX")) for part in name.split("/")))

    def open(self, name: str) -> BinaryIO:
        return self._zip.open(name) if self._zip is not None else open(self.path / name, "rb")

    def read(self, name: str) -> bytes:
        with self.open(name) as handle:
            return handle.read()

    def label(self, name: str) -> str:
        """How messages name a file of this source."""
        return f"{self.path}:{name}" if self._zip is not None else str(self.path / name)

    def find(self, name: str) -> str | None:
        """`name` as it is stored, matched exactly or else ignoring case; None when absent."""
        folder, file_name = posixpath.split(name)
        if folder not in self._listings:
            stored = self._list_folder(folder)
            self._listings[folder] = (stored, {name.lower(): name for name in sorted(stored, reverse=True)})
        stored, lowered = self._listings[folder]
        found = file_name if file_name in stored else lowered.get(file_name.lower())
        return posixpath.join(folder, found) if found is not None else None

    def _list_folder(self, folder: str) -> set[str]:
        """Names of the files directly in `folder` ("" = the root)."""
        if self._zip is not None:
            if self._zip_folders is None:  # one pass over the archive's index for all folders
                self._zip_folders = {}
                for name in self.names():
                    parent, file_name = posixpath.split(name)
                    self._zip_folders.setdefault(parent, set()).add(file_name)
            return self._zip_folders.get(folder, set())
        if not (self.path / folder).is_dir():
            return set()
        return {entry.name for entry in os.scandir(self.path / folder) if entry.is_file()}


def is_safe_name(name: str) -> bool:
    """Whether an archive entry's name is a relative path that stays inside the archive's root:
    no leading "/" or "\\", no drive letter ("C:"), no ".." part."""
    parts = name.replace("\\", "/").split("/")
    return bool(name) and parts[0] != "" and ":" not in parts[0] and ".." not in parts


@dataclass(frozen=True)
class PageFile:
    xml_name: str
    format: str  # "page" or "alto"

    @property
    def page_id(self) -> str:
        return page_id(self.xml_name)


def page_id(name: str) -> str:
    """ "doc/page/0001.xml" -> "doc/0001": the XML's path without its suffix and page/alto folder."""
    folder, file_name = posixpath.split(name)
    if posixpath.basename(folder).lower() in XML_FOLDERS:
        folder = posixpath.dirname(folder)
    stem = posixpath.splitext(file_name)[0] if file_name.lower().endswith((".xml", *IMAGE_SUFFIXES)) else file_name
    return posixpath.join(folder, stem) if folder else stem


def find_pages(source: PageSource, names: list[str] | None = None):
    """Sort the XML files of `source` into pages and the rest.

    Returns (pages, other_xml, unreadable): `PageFile`s of PAGE-XML and ALTO files, names of
    other XML files (METS, Transkribus' metadata.xml, ...), and (name, PageError) of files whose
    root element does not even parse.
    """
    pages, other, unreadable = [], [], []
    for name in names if names is not None else source.names():
        if not name.lower().endswith(".xml"):
            continue
        try:
            with source.open(name) as handle:
                kind = sniff_format(handle)
        except PageError as error:
            unreadable.append((name, error))
            continue
        if kind is None:
            other.append(name)
        else:
            pages.append(PageFile(name, kind))
    return pages, other, unreadable


def _normalised(name: str) -> str | None:
    """A relative POSIX path that stays inside the root, or None."""
    name = posixpath.normpath(name.replace("\\", "/")).lstrip("/")
    return None if name in ("", ".") or name.startswith("../") or name == ".." else name


def find_page_image(source: PageSource, xml_name: str, image_filename: str) -> str | None:
    """The page image of `xml_name`: the XML's own file name (relative to the XML's folder or one of
    its parents, or just its base name there), then an image with the XML's stem and a usual
    extension beside the XML or in the folder above a page/alto folder. Case-insensitive."""
    xml_folder = posixpath.dirname(xml_name)
    folders = [xml_folder]
    while folders[-1] and posixpath.dirname(folders[-1]) != folders[-1]:
        folders.append(posixpath.dirname(folders[-1]))
    referenced = image_filename.replace("\\", "/").strip()
    if "://" in referenced:
        referenced = referenced.split("://", 1)[1].split("/", 1)[-1]
    candidates = []
    if referenced:
        for folder in folders:
            if not posixpath.isabs(referenced) and ":" not in referenced.split("/")[0]:
                candidates.append(posixpath.join(folder, referenced))
            candidates.append(posixpath.join(folder, posixpath.basename(referenced)))
    stem_folders = [xml_folder]
    if posixpath.basename(xml_folder).lower() in XML_FOLDERS:
        stem_folders.append(posixpath.dirname(xml_folder))
    stem = posixpath.splitext(posixpath.basename(xml_name))[0]
    candidates += [posixpath.join(folder, stem + suffix) for folder in stem_folders for suffix in IMAGE_SUFFIXES]
    for candidate in candidates:
        candidate = _normalised(candidate)
        if candidate is None:
            continue
        found = source.find(candidate)
        if found is not None:
            return found
    return None


def page_root(xml_file: Path) -> Path:
    """The folder a lone XML file's image is looked up from: above a page/alto folder."""
    folder = xml_file.parent
    return folder.parent if folder.name.lower() in XML_FOLDERS else folder
