"""The dataset card (README.md) of a built dataset, and reading the text-rules profile back from it.

The YAML front matter carries what programs need: `configs` (split -> shard files, what
`load_dataset` reads) and `text_rules` (the name of the text-normalisation profile of the
source, e.g. "saintgall"; training defaults its `--text_rules` to it). The body is for people.
"""

from __future__ import annotations

import os
import string
import unicodedata
from collections import Counter
from pathlib import Path

import datasets
import yaml
from huggingface_hub import hf_hub_download, metadata_load

from .records import SPLITS, BuildReport, SourceInfo

TEXT_RULES_KEY = "text_rules"
MAX_SKIPPED_IDS_IN_CARD = 20


def read_text_rules(dataset: str | os.PathLike, revision: str | None = None) -> str | None:
    """Text-rules profile name recorded in a built dataset's card, or None when it has none.

    `dataset` is a built folder, its README.md, or a Hub dataset id ("user/name"; read through
    the local Hub cache when offline).
    """
    path = Path(dataset)
    if path.is_dir():
        path = path / "README.md"
        if not path.is_file():
            return None
    elif not path.is_file():
        path = Path(hf_hub_download(str(dataset), "README.md", repo_type="dataset", revision=revision))
    metadata = metadata_load(path) or {}
    value = metadata.get(TEXT_RULES_KEY)
    return str(value) if value is not None else None


def _front_matter(info: SourceInfo, counts: dict[str, int]) -> dict:
    metadata = {"pretty_name": info.pretty_name, "license": info.license}
    if info.license == "other":
        # The Hub wants a slug and a link for custom licences; the terms themselves go in the body.
        metadata["license_name"] = f"{info.name.replace('_', '-')}-terms"
        if info.homepage:
            metadata["license_link"] = info.homepage
    if info.language:
        metadata["language"] = list(info.language)
    metadata.update(
        {
            "task_categories": ["image-to-text"],
            "tags": ["handwriting-recognition", "htr", info.name],
            "source_builder": info.name,
            TEXT_RULES_KEY: info.text_rules,
            "configs": [
                {
                    "config_name": "default",
                    # An empty split has no shard; datasets cannot load a split that matches no rows.
                    "data_files": [{"split": split, "path": f"data/{split}-*"} for split in SPLITS if counts[split]],
                }
            ],
        }
    )
    return metadata


def _char_label(char: str) -> str:
    if char.isspace() or unicodedata.category(char).startswith("C"):
        return unicodedata.name(char, "control").lower()
    if char in string.punctuation:
        return "\\" + char  # Markdown escape keeps "|", "*", "`" ... literal inside the table
    return char


def _charset_section(char_counts: dict[str, Counter]) -> list[str]:
    total = Counter()
    for counts in char_counts.values():
        total.update(counts)
    unseen_in_train = sorted(char for char in total if char not in char_counts["train"])
    lines = [
        "## Character set",
        "",
        f"{len(total)} distinct characters in `text` (before any text rules).",
    ]
    if unseen_in_train:
        shown = " ".join(_char_label(char) for char in unseen_in_train)
        lines.append(f"Characters absent from train: {shown}")
    lines += [
        "",
        "| character | code point | " + " | ".join(SPLITS) + " | total |",
        "|---|---|" + "---|" * (len(SPLITS) + 1),
    ]
    for char, count in sorted(total.items(), key=lambda item: (-item[1], item[0])):
        per_split = " | ".join(str(char_counts[split][char]) for split in SPLITS)
        lines.append(f"| {_char_label(char)} | U+{ord(char):04X} | {per_split} | {count} |")
    return lines


def _build_section(report: BuildReport, options: dict) -> list[str]:
    lines = ["## Build", ""]
    if options:
        lines.append("Options: " + ", ".join(f"`{key}={value}`" for key, value in sorted(options.items())))
        lines.append("")
    lines.append(f"Skipped invalid samples: {report.num_skipped}")
    for problem, ids in report.skipped.items():
        shown = ", ".join(ids[:MAX_SKIPPED_IDS_IN_CARD])
        more = f", ... ({len(ids) - MAX_SKIPPED_IDS_IN_CARD} more)" if len(ids) > MAX_SKIPPED_IDS_IN_CARD else ""
        lines.append(f"- {problem}: {len(ids)} ({shown}{more})")
    for excluded in report.excluded:
        lines.append(f"\nLeft out, in no split: {excluded.count} ({excluded.reason})")
    for note in report.notes:
        lines.append(f"\nKept, changed: {note.count} ({note.reason})")
    return lines


def render_card(info: SourceInfo, report: BuildReport, features: datasets.Features, options: dict) -> str:
    front = yaml.safe_dump(_front_matter(info, report.counts), sort_keys=False, allow_unicode=True)
    columns = ", ".join(f"`{name}`" for name in features)
    lines = [
        "---",
        front.rstrip("\n"),
        "---",
        "",
        f"# {info.pretty_name}",
        "",
        info.description,
        "",
        "```python",
        "from datasets import load_dataset",
        'dataset = load_dataset("path/or/hub-id")  # train / validation / test',
        "```",
        "",
        f"Columns: {columns}. `text` is the transcription as the source gives it, after format decoding only.",
        "",
        "## Splits",
        "",
        "| split | lines | shards |",
        "|---|---|---|",
    ]
    lines += [f"| {split} | {report.counts[split]} | {report.num_shards.get(split, 0)} |" for split in SPLITS]
    empty = [split for split in SPLITS if not report.counts[split]]
    if empty:
        lines += ["", f"Empty, hence absent from the dataset: {', '.join(empty)}."]
    lines += [
        "",
        "## Text rules",
        "",
        f"Text-rules profile: `{info.text_rules}` (front-matter key `{TEXT_RULES_KEY}`). Normalisation is not baked",
        "into `text`; the recognizer's processor applies the named profile to training targets and predictions.",
        "Read it with `data_builders.read_text_rules(path_or_hub_id)`.",
        "",
    ]
    if report.min_size is not None:
        lines += [
            "## Images",
            "",
            f"Width {report.min_size[0]}-{report.max_size[0]} px, height {report.min_size[1]}-{report.max_size[1]} px.",
            "",
        ]
    lines += _charset_section(report.char_counts) + [""]
    lines += ["## Source", ""]
    if info.homepage:
        lines.append(f"- Homepage: {info.homepage}")
    lines += [f"- Licence: {info.license_terms or info.license}", ""]
    if info.citation:
        lines += ["Citation:", "", "```bibtex", info.citation.strip(), "```", ""]
    lines += _build_section(report, options)
    return "\n".join(lines) + "\n"


def write_card(folder: Path, info: SourceInfo, report: BuildReport, features: datasets.Features, options: dict) -> None:
    (folder / "README.md").write_text(render_card(info, report, features, options), encoding="utf-8")
