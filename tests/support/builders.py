"""Tiny raw-format datasets in the layouts the official downloads ship, for the builder tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np


def write_line_image(path: Path, seed: int, height: int = 12, width: int = 30) -> np.ndarray:
    """A small grayscale image with distinct content per seed (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 256, size=(height, width), dtype=np.uint8)
    assert cv2.imwrite(str(path), image)
    return image


def make_iam(root: Path, with_forms: bool = True) -> dict:
    """IAM: ascii/lines.txt with comments and an err row, lines/ images, IAM-D split lists.

    Returns the expected {line id: (split, text, writer)} of the lines in some split.
    """
    rows = [
        ("a01-000u-00", "ok", "A|MOVE|to|stop|Mr.|Gaitskell"),
        ("a01-000u-01", "err", "from|nominating|any|more"),
        ("a01-000x-00", "ok", "Labour|life|Peers|is|to"),
        ("b02-010-00", "ok", "be|made|at|a|meeting"),
        ("b02-010-01", "ok", "of|Labour|M|Ps|tomorrow|."),
        ("c03-003-00", "ok", "in|no|split|list"),
    ]
    writers = {"a01-000u": "000", "a01-000x": "001", "b02-010": "017"}
    lines = ["#--- lines.txt ---", "# format: a01-000u-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop", "#"]
    for index, (line_id, status, words) in enumerate(rows):
        lines.append(f"{line_id} {status} 154 {index + 3} 408 746 1661 89 {words}")
        form = line_id.rsplit("-", 1)[0]
        write_line_image(root / "lines" / form.split("-")[0] / form / f"{line_id}.png", seed=index)
    (root / "ascii").mkdir(parents=True, exist_ok=True)
    (root / "ascii" / "lines.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if with_forms:
        forms = ["# forms.txt"] + [f"{form} {writer} 2 prt 7 5 52 36" for form, writer in writers.items()]
        (root / "ascii" / "forms.txt").write_text("\n".join(forms) + "\n", encoding="utf-8")
    lists = {
        "trainset.txt": ["a01-000u-00", "a01-000u-01"],
        "validationset1.txt": ["a01-000x-00"],
        "validationset2.txt": ["b02-010-00"],
        "testset.txt": ["b02-010-01"],
    }
    for name, ids in lists.items():
        (root / name).write_text("\n".join(ids) + "\n", encoding="utf-8")
    split_of = {
        "a01-000u-00": "train",
        "a01-000u-01": "train",
        "a01-000x-00": "validation",
        "b02-010-00": "validation",
        "b02-010-01": "test",
    }
    expected = {}
    for line_id, _, words in rows:
        if line_id in split_of:
            form = line_id.rsplit("-", 1)[0]
            writer = writers[form] if with_forms else form
            expected[line_id] = (split_of[line_id], words.replace("|", " "), writer)
    return expected


def make_bentham(root: Path) -> dict:
    """Bentham R0 under root/BenthamDatasetR0-GT; one transcription is in no partition."""
    base = root / "BenthamDatasetR0-GT"
    texts = {
        "002_080_001_01_01": ("train", "the evidence of the engagement , consigned"),
        "002_080_001_01_02": ("train", "to a portable ( case ) \u00e9 \u22a5"),
        "002_080_001_01_03": ("validation", "No. 6 ; said he ."),
        "071_146_001_02_01": ("test", "Panopticon"),
    }
    partitions = {"train": "TrainLines.lst", "validation": "ValidationLines.lst", "test": "TestLines.lst"}
    (base / "Transcriptions").mkdir(parents=True)
    (base / "Partitions").mkdir(parents=True)
    for index, (line_id, (_, text)) in enumerate(texts.items()):
        (base / "Transcriptions" / f"{line_id}.txt").write_text(text + "\n", encoding="utf-8")
        write_line_image(base / "Images" / "Lines" / f"{line_id}.png", seed=index)
    (base / "Transcriptions" / "999_999_999_99_99.txt").write_text("unlisted\n", encoding="utf-8")
    for split, name in partitions.items():
        ids = [line_id for line_id, (line_split, _) in texts.items() if line_split == split]
        (base / "Partitions" / name).write_text("\n".join(ids) + "\n", encoding="utf-8")
    return texts


def make_peter(root: Path) -> dict:
    """Digital Peter: mapper.csv with one row in no split (-> train)."""
    rows = [
        ("1_1_0.jpg", "True", "False", "False", "\u0438 \u043f\u0440\u0438\u0441\u043b\u0430\u043b"),
        ("1_1_1.jpg", "False", "True", "False", "\u043f\u0438\u0441\u043c\u0430 \u0441\u0432\u043e\u0438"),
        ("1_1_2.jpg", "False", "False", "True", "\u0433\u043e\u0441\u0443\u0434\u0430\u0440\u044c"),
        ("1_1_3.jpg", "False", "False", "False", "\u0432 \u0430\u0440\u043c\u0435\u0438"),
    ]
    (root / "words").mkdir(parents=True)
    with open(root / "mapper.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["new_name", "train", "public", "private"])
        for index, (name, train, public, private, text) in enumerate(rows):
            writer.writerow([name, train, public, private])
            write_line_image(root / "images" / name, seed=index)
            (root / "words" / f"{Path(name).stem}.txt").write_text(text + "\n", encoding="utf-8")
    splits = {"1_1_0": "train", "1_1_1": "validation", "1_1_2": "test", "1_1_3": "train"}
    return {Path(name).stem: (splits[Path(name).stem], text) for name, *_, text in rows}


def make_hkr(root: Path) -> dict:
    """HKR: ann/*.json + img/*.jpg + HKR_splitting.csv with val, test1 and test2."""
    stages = {"0_0": "train", "0_1": "val", "1_0": "test1", "1_1": "test2"}
    texts = {
        "0_0": "\u0410\u043b\u043c\u0430\u0442\u044b",
        "0_1": "\u049a\u0430\u0437\u0430\u049b\u0441\u0442\u0430\u043d",
        "1_0": "\u0443\u043b. \u0410\u0431\u0430\u044f 5",
        "1_1": "\u041c\u043e\u0441\u043a\u0432\u0430",
    }
    (root / "ann").mkdir(parents=True)
    for index, (name, text) in enumerate(texts.items()):
        write_line_image(root / "img" / f"{name}.jpg", seed=index)
        annotation = {"name": name, "description": text, "size": {"width": 30, "height": 12}}
        (root / "ann" / f"{name}.json").write_text(json.dumps(annotation, ensure_ascii=False), encoding="utf-8")
    with open(root / "HKR_splitting.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "stage"])
        writer.writerows(stages.items())
    to_split = {"train": "train", "val": "validation", "test1": "test", "test2": "test"}
    return {name: (to_split[stage], texts[name]) for name, stage in stages.items()}


def make_marking(root: Path, rows: list[tuple] | None = None, image_suffix: str = ".png") -> list[tuple]:
    """marking.csv (sample_id, path, stage, text, writer) with images under root/images/.

    Rows are (sample_id, stage, text, writer); each gets its own image.
    """
    rows = rows or [
        ("s-train-0", "train", "first line", "w1"),
        ("s-train-1", "train", "second, line!", "w2"),
        ("s-valid-0", "valid", "third line", "w1"),
        ("s-test-0", "test", "fourth | line", "w3"),
    ]
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "marking.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample_id", "path", "stage", "text", "writer"])
        for index, (sample_id, stage, text, writer_id) in enumerate(rows):
            relative = f"images/{sample_id}{image_suffix}"
            write_line_image(root / relative, seed=index)
            writer.writerow([sample_id, relative, stage, text, writer_id])
    return rows
