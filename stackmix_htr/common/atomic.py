"""Outputs written whole or not at all, and the one check of an output folder before any work.

Every command of the project writes through these helpers:

- `check_output_folder`: refuse, before the slow part, an output folder that is a file, lies
  under one or cannot be written; for a folder that is replaced whole, also one that exists
  without `--overwrite` or that is not of the kind the command writes (it would be lost).
- `write_file_atomic`: a file through a temporary sibling renamed over it.
- `atomic_folder`: a folder written in a temporary sibling, then `publish_folder` renames it into
  place; an older version is moved aside and removed only once the new one is in.
- `replace_keeping_previous`: the same for a folder that a later run reads back by its name (a
  training state): the previous complete version waits as FOLDER.previous, where a reader finds
  it when a kill fell between the two renames.

Temporary folders are named `.FINAL.tmp-HOST-PID-RANDOM` (and `.FINAL.old-...` for a version
being replaced), so the next writer of the same output removes those of killed writers.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .errors import InputError, OutputExistsError


def check_output_folder(
    path: str | os.PathLike,
    option: str = "--output_dir",
    *,
    overwrite: bool | None = None,
    kind: tuple[str, tuple[str, ...]] | None = None,
) -> Path:
    """Refuse, before any work, an output folder that is a file, lies under one, or cannot be written.

    For a folder that is replaced whole, pass `overwrite`: an existing one is then refused unless
    `overwrite` is true, and with `kind` = (what it is, names it holds), e.g.
    ("a dataset built by data_builders", ("README.md", "data")), a non-empty one without those names
    is refused even with `overwrite`. Returns the absolute path.
    """
    path = Path(path).absolute()
    for existing in (path, *path.parents):
        if existing.exists():
            break
    if not existing.is_dir():
        raise InputError(f"{option} {path}: {existing} is a file, not a folder; choose another {option}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: {existing} is not writable; choose another {option}")
    if overwrite is None or existing != path:
        return path
    if not overwrite:
        raise OutputExistsError(f"{path} already exists; pass --overwrite to replace it")
    if kind is not None and any(path.iterdir()) and not all((path / name).exists() for name in kind[1]):
        what, names = kind
        raise OutputExistsError(
            f"{path} exists and is not {what} (no {' and '.join(names)}); refusing to replace it: "
            f"choose another {option}"
        )
    return path


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def write_file_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` through a temporary file in the same folder, then rename it over `path`.

    A reader never sees a partial file and an old `path` survives a failed write. The file gets
    the permissions a plain `open()` would give it (mkstemp's are owner-only).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, path)
    except BaseException:
        os.unlink(tmp_name)
        raise


def _process_is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _stale_temporary_folders(final: Path):
    """(folder, kind) of the temporary folders beside `final` whose writer on this host has died."""
    owned = re.compile(rf"\.{re.escape(final.name)}\.(?P<kind>tmp|old)-(?P<host>.+)-(?P<pid>\d+)-[a-z0-9_]+")
    host = socket.gethostname()
    for folder in final.parent.glob(f".{glob.escape(final.name)}.*-*"):
        match = owned.fullmatch(folder.name)
        if match and match["host"] == host and folder.is_dir() and not _process_is_running(int(match["pid"])):
            yield folder, match["kind"]


def make_temporary_folder(final: Path, kind: str = "tmp") -> Path:
    """A new empty folder `.FINAL.KIND-HOST-PID-RANDOM` beside `final` (kind "tmp": a version being
    written; "old": the replaced version while the new one moves in).

    Folders of this naming left by a killed writer are removed first. A stale "old" folder whose
    writer died between its two renames still holds the previous version while `final` is missing:
    that version is moved back into place.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for folder, stale_kind in _stale_temporary_folders(final):
        if stale_kind == "old" and not final.exists() and (folder / final.name).is_dir():
            os.replace(folder / final.name, final)
        shutil.rmtree(folder, ignore_errors=True)
    prefix = f".{final.name}.{kind}-{socket.gethostname()}-{os.getpid()}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))


def publish_folder(tmp_dir: Path, out_dir: Path) -> None:
    """Move a finished folder into place; an old OUT_DIR is removed only once the new one is complete."""
    if not out_dir.exists():
        os.replace(tmp_dir, out_dir)
        return
    old_dir = make_temporary_folder(out_dir, "old")
    os.replace(out_dir, old_dir / out_dir.name)
    try:
        os.replace(tmp_dir, out_dir)
    except BaseException:
        os.replace(old_dir / out_dir.name, out_dir)
        raise
    finally:
        shutil.rmtree(old_dir, ignore_errors=True)


@contextmanager
def atomic_folder(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty temporary folder beside `final`; when the block ends without an error it
    replaces `final` (readable like any folder: mkdtemp's are owner-only), otherwise it is removed."""
    final = Path(final).absolute()
    tmp_dir = make_temporary_folder(final)
    try:
        yield tmp_dir
        tmp_dir.chmod(0o777 & ~_umask())
        publish_folder(tmp_dir, final)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise


def previous_version(final: Path) -> Path:
    """Where `replace_keeping_previous` keeps the version it replaces until the new one is in place."""
    return final.with_name(final.name + ".previous")


def replace_keeping_previous(new: Path, final: Path, is_complete: Callable[[Path], bool]) -> None:
    """Rename `new` to `final`. Meanwhile a complete `final` waits as FINAL.previous; an incomplete
    one (from a killed writer) is dropped, and FINAL.previous, then the last complete version, kept."""
    previous = previous_version(final)
    if is_complete(final):
        if previous.exists():
            shutil.rmtree(previous)
        os.replace(final, previous)
    elif final.exists():
        shutil.rmtree(final)
    os.replace(new, final)
    if previous.exists():
        shutil.rmtree(previous)
