"""bench/RESULTS.md is shared by several benchmarks: each owns one section between markers and rewrites
only that section, so running one benchmark leaves the others' figures in place."""

from __future__ import annotations

from pathlib import Path

from data_builders.atomic import write_file_atomic

TITLE = (
    "# Benchmark results\n\nEach section below is written by the benchmark it names; rerun it to refresh the section.\n"
)


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- section {name}: start -->", f"<!-- section {name}: end -->"


def replace_section(path: Path, name: str, text: str) -> None:
    """Write `text` as section `name` of the Markdown file `path` (appended when the file lacks it)."""
    start, end = _markers(name)
    block = f"{start}\n{text.rstrip()}\n{end}"
    current = path.read_text(encoding="utf-8") if path.is_file() else TITLE
    if start in current and end in current:
        head, rest = current.split(start, 1)
        updated = head + block + rest.split(end, 1)[1]
    else:
        updated = current.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(path, updated.encode("utf-8"))
