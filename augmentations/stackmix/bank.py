"""The StackMix token bank: every 1..8-character span of every train line with character boxes.

A bank is a dataset folder with two configs and a small JSON of facts:

    BANK/lines/train-*.parquet    one row per source line: sample_id, text, image (PNG), scale
    BANK/tokens/train-*.parquet   one row per slice: token, sample_id, line_index, position, n, x1, x2, width
    BANK/stackmix_bank.json       height, background, characters, counts, limits
    BANK/README.md                card (`load_dataset(BANK, "tokens")` / `load_dataset(BANK, "lines")`)

A line image is stored once, already normalised: shrunk to the bank height if taller (aspect
kept), shifted so its ink centre of mass sits on the middle row, padded with the background.
A slice is the column range [x1, x2) of its line image (full height), so the bank holds each
pixel once instead of up to eight times, builds in seconds and loads into memory whole.
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import datasets
import numpy as np
import pyarrow as pa
from huggingface_hub import metadata_load
from PIL import Image

from data_builders.loading import DatasetFolderError, load_dataset_folder_or_hub, read_json, read_split
from data_builders.writer import DATASET_FOLDER, Part, write_dataset_folder
from stackmix_htr.common.atomic import check_output_folder
from stackmix_htr.common.errors import InputError

from ..image_arrays import to_uint8_array
from .images import has_light_background, normalize_line_height, to_gray

BANK_INFO_FILE = "stackmix_bank.json"
BANK_FORMAT = "stackmix-token-bank"
BANK_FORMAT_VERSION = 1
TOKEN_ROWS_PER_SHARD = 200_000
LINE_ROWS_PER_SHARD = 500

LINE_FEATURES = datasets.Features(
    {
        "sample_id": datasets.Value("string"),
        "text": datasets.Value("string"),
        "image": datasets.Image(),
        "scale": datasets.Value("float32"),
    }
)
TOKEN_FEATURES = datasets.Features(
    {
        "token": datasets.Value("string"),
        "sample_id": datasets.Value("string"),
        "line_index": datasets.Value("int32"),
        "position": datasets.Value("int32"),
        "n": datasets.Value("int8"),
        "x1": datasets.Value("int32"),
        "x2": datasets.Value("int32"),
        "width": datasets.Value("int32"),
    }
)


class BankError(InputError, ValueError):
    """A token bank is missing, corrupt, or cannot be built from the given inputs."""


def _encode_png(image: np.ndarray) -> bytes:
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise BankError("PNG encoding of a line image failed")
    return buffer.tobytes()


def _decode_png(data: bytes, where: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise BankError(f"{where}: the line image is not a readable PNG")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


def _select_lines(masks: list[dict], max_lines_per_text: int, rng: np.random.Generator) -> list[dict]:
    """Lines in a seeded random order (so per-token caps do not favour the first pages),
    keeping at most `max_lines_per_text` lines of any identical transcription."""
    kept, per_text = [], Counter()
    for index in rng.permutation(len(masks)):
        line = masks[index]
        if line["boxes"] and per_text[line["text"]] < max_lines_per_text:
            per_text[line["text"]] += 1
            kept.append(line)
    return kept


def _char_masks_text_rules(char_masks: str | os.PathLike) -> str:
    """The text rules the char masks' texts went through (recorded in their card; "none" when absent)."""
    readme = Path(char_masks) / "README.md"
    metadata = (metadata_load(readme) or {}) if readme.is_file() else {}
    return (metadata.get("char_masks") or {}).get("text_rules", "none")


def _load_line_images(
    dataset: str | os.PathLike, split: str, lines: list[dict], text_rules: str
) -> dict[str, np.ndarray]:
    """The images of the char-mask `lines`, after checking that the dataset has the same texts."""
    from modeling_stackmix_htr.text_rules import get_text_rules  # here: the model package imports transformers

    source = load_dataset_folder_or_hub(dataset, split=split)
    source = source.select_columns(["sample_id", "text", "image"]).cast_column("image", datasets.Image(decode=False))
    row_of = {sample_id: row for row, sample_id in enumerate(source["sample_id"])}
    sample_ids = [line["sample_id"] for line in lines]
    missing = [sample_id for sample_id in sample_ids if sample_id not in row_of]
    if missing:
        raise BankError(
            f"{len(missing)} char-mask line(s) are not in split {split!r} of {dataset}: {', '.join(missing[:5])}"
        )
    rules, texts = get_text_rules(text_rules), list(source["text"])
    differing = []
    for line in lines:
        text = rules.preprocess(texts[row_of[line["sample_id"]]])
        if text != line["text"]:
            differing.append(f"{line['sample_id']}: {line['text']!r} vs {text!r}")
    if differing:
        shown = "; ".join(differing[:5])
        raise BankError(
            f"{len(differing)} char-mask line(s) have other texts than split {split!r} of {dataset} (text rules "
            f"{text_rules!r}), so the masks belong to another version of the dataset: {shown}; "
            "compute the char masks on this dataset (python -m augmentations.stackmix char-masks)"
        )
    images = {}
    for sample_id in sample_ids:
        encoded = source[row_of[sample_id]]["image"]
        data = encoded["bytes"] if encoded["bytes"] is not None else Path(encoded["path"]).read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            images[sample_id] = to_uint8_array(image)
    return images


def build_bank(
    char_masks: str | os.PathLike,
    dataset: str | os.PathLike,
    output_dir: str | os.PathLike,
    split: str = "train",
    height: int = 128,
    max_token_length: int = 8,
    max_slices_per_token: int = 100,
    max_lines_per_text: int = 50,
    seed: int = 0,
    overwrite: bool = False,
) -> dict:
    """Build a token bank from a char-masks folder and the dataset it was computed on.

    Returns the facts written to `stackmix_bank.json` (counts, characters, ...).
    """
    check_output_folder(output_dir, overwrite=overwrite, kind=DATASET_FOLDER)  # fail before the work
    masks = read_split(char_masks, split, columns=["sample_id", "text", "boxes"]).to_pylist()
    lines = _select_lines(masks, max_lines_per_text, np.random.default_rng(seed))
    if not lines:
        raise BankError(f"{char_masks} has no line with character boxes in split {split!r}")
    images = _load_line_images(dataset, split, lines, _char_masks_text_rules(char_masks))
    # Handwriting is a minority of a line, so the typical median tells the background's polarity.
    light = float(np.median([has_light_background(to_gray(image)) for image in images.values()])) >= 0.5
    background = 255 if light else 0
    channels = 1 if next(iter(images.values())).ndim == 2 else 3

    line_rows = {"sample_id": [], "text": [], "image": [], "scale": []}
    token_columns = {name: [] for name in TOKEN_FEATURES}
    slices_per_token: Counter = Counter()
    for line_index, line in enumerate(lines):
        image = images[line["sample_id"]]
        if (image.ndim == 2) != (channels == 1):
            raise BankError(f"line {line['sample_id']}: mixed grayscale and colour images in {dataset}")
        normalised, scale = normalize_line_height(image, height, background, dark_ink=light)
        line_rows["sample_id"].append(line["sample_id"])
        line_rows["text"].append(line["text"])
        line_rows["image"].append({"bytes": _encode_png(normalised), "path": f"{line['sample_id']}.png"})
        line_rows["scale"].append(scale)
        width = normalised.shape[1]
        lefts = np.clip(np.rint(np.array([box["x1"] for box in line["boxes"]]) * scale), 0, width).astype(int)
        rights = np.clip(np.rint(np.array([box["x2"] for box in line["boxes"]]) * scale), 0, width).astype(int)
        text = "".join(box["label"] for box in line["boxes"])
        for n in range(1, max_token_length + 1):
            for position in range(len(text) - n + 1):
                token = text[position : position + n]
                x1, x2 = lefts[position], rights[position + n - 1]
                if x2 <= x1 or slices_per_token[token] >= max_slices_per_token:
                    continue
                slices_per_token[token] += 1
                for name, value in zip(
                    TOKEN_FEATURES, (token, line["sample_id"], line_index, position, n, x1, x2, x2 - x1)
                ):
                    token_columns[name].append(value)

    def token_tables():
        total = len(token_columns["token"])
        for start in range(0, total, TOKEN_ROWS_PER_SHARD):
            yield pa.table(
                {name: values[start : start + TOKEN_ROWS_PER_SHARD] for name, values in token_columns.items()}
            )

    def line_tables():
        for start in range(0, len(lines), LINE_ROWS_PER_SHARD):
            yield pa.table({name: values[start : start + LINE_ROWS_PER_SHARD] for name, values in line_rows.items()})

    characters = "".join(sorted(token for token in slices_per_token if len(token) == 1))
    info = {
        "format": BANK_FORMAT,
        "format_version": BANK_FORMAT_VERSION,
        "height": height,
        "background": background,
        "channels": channels,
        "characters": characters,
        "num_lines": len(lines),
        "num_slices": int(sum(slices_per_token.values())),
        "num_tokens": len(slices_per_token),
        "max_token_length": max_token_length,
        "max_slices_per_token": max_slices_per_token,
        "max_lines_per_text": max_lines_per_text,
        "seed": seed,
        "char_masks": str(char_masks),
        "dataset": str(dataset),
        "split": split,
    }

    def card():
        metadata = {"tags": ["stackmix", "token-bank", "handwriting-recognition"], "source_dataset": str(dataset)}
        body = f"""# StackMix token bank

Image slices of {info["num_lines"]} lines of split `{split}` of `{dataset}`, cut at the character
boxes of `{char_masks}`: every span of 1..{max_token_length} characters, at most
{max_slices_per_token} slices per distinct token and {max_lines_per_text} lines per identical transcription.

- slices: {info["num_slices"]}; distinct tokens: {info["num_tokens"]}
- line height: {height} px; background value: {background}; channels: {channels}
- characters ({len(characters)}): `{characters}`

Config `lines` holds the normalised line images, config `tokens` one row per slice: the slice is
columns `x1:x2` of line `line_index` of `lines`. Facts for programs are in `{BANK_INFO_FILE}`.
"""
        return metadata, body

    write_dataset_folder(
        output_dir,
        [
            Part("tokens", split, TOKEN_FEATURES, token_tables()),
            Part("lines", split, LINE_FEATURES, line_tables()),
        ],
        card,
        extra_files=lambda: {BANK_INFO_FILE: json.dumps(info, indent=2, ensure_ascii=False) + "\n"},
        overwrite=overwrite,
    )
    return info


@dataclass
class TokenBank:
    """A bank in memory: decoded line images and, per token, the slices that show it.

    Lines are kept column-major, `columns[i]` of shape (W, H[, C]), so a slice is one contiguous
    block of memory and stacking slices is a run of block copies. `slices[token]` is an int32
    array (k, 3) of (line_index, x1, x2): the slice is columns x1:x2 of that line.
    """

    columns: list[np.ndarray]
    texts: list[str]
    slices: dict[str, np.ndarray]
    height: int
    background: int
    path: Path

    @property
    def characters(self) -> set[str]:
        return {token for token in self.slices if len(token) == 1}

    def line_image(self, line_index: int) -> np.ndarray:
        """Line `line_index` as an (H, W[, C]) view."""
        return np.swapaxes(self.columns[line_index], 0, 1)

    def slice_columns(self, line_index: int, x1: int, x2: int) -> np.ndarray:
        """The slice as a contiguous (x2 - x1, H[, C]) view of its line's columns."""
        return self.columns[line_index][x1:x2]

    def slice_image(self, line_index: int, x1: int, x2: int) -> np.ndarray:
        """The slice as an (H, x2 - x1[, C]) view."""
        return np.swapaxes(self.columns[line_index][x1:x2], 0, 1)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TokenBank":
        """Read a bank folder; a missing or corrupt bank raises `BankError` naming the path and the problem."""
        path = Path(path)
        if not path.is_dir():
            raise BankError(f"token bank {path} does not exist or is not a folder (build one with build-bank)")
        try:
            info = read_json(path, BANK_INFO_FILE)
            if info.get("format") != BANK_FORMAT or info.get("format_version") != BANK_FORMAT_VERSION:
                raise BankError(
                    f"{path / BANK_INFO_FILE} does not describe a token bank of format "
                    f"{BANK_FORMAT} v{BANK_FORMAT_VERSION}"
                )
            tokens = read_split(path, columns=["token", "line_index", "x1", "x2"], config="tokens")
            line_table = read_split(path, columns=["text", "image"], config="lines")
        except DatasetFolderError as error:
            raise BankError(f"not a usable token bank: {error}") from error
        if line_table.num_rows == 0:
            raise BankError(f"{path}: the bank has no line images")
        lines = [
            _decode_png(image["bytes"], f"{path} line {index}")
            for index, image in enumerate(line_table.column("image").to_pylist())
        ]
        height, background = int(info["height"]), int(info["background"])
        for index, image in enumerate(lines):
            if image.shape[0] != height:
                raise BankError(f"{path}: line {index} is {image.shape[0]} px tall, the bank says {height}")
        return cls(
            columns=[np.ascontiguousarray(np.swapaxes(image, 0, 1)) for image in lines],
            texts=line_table.column("text").to_pylist(),
            slices=_group_slices(tokens, lines, path),
            height=height,
            background=background,
            path=path,
        )


def _group_slices(tokens: pa.Table, lines: list[np.ndarray], path: Path) -> dict[str, np.ndarray]:
    rows = np.stack([tokens.column(name).to_numpy() for name in ("line_index", "x1", "x2")], axis=1).astype(np.int32)
    if len(rows):
        widths = np.array([image.shape[1] for image in lines])
        line_index = rows[:, 0]
        bad = (line_index < 0) | (line_index >= len(lines))
        bad |= (
            (rows[:, 1] < 0)
            | (rows[:, 2] <= rows[:, 1])
            | (rows[:, 2] > widths[np.clip(line_index, 0, len(lines) - 1)])
        )
        if bad.any():
            raise BankError(f"{path}: {int(bad.sum())} token slice(s) point outside their line images")
    groups = defaultdict(list)
    for row, token in enumerate(tokens.column("token").to_pylist()):
        groups[token].append(row)
    return {token: rows[indices] for token, indices in groups.items()}
