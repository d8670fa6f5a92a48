"""Dataset builders on tiny raw-format fixtures: formats, the load_dataset round trip, bad input, atomicity."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import datasets
import numpy as np
import pytest
from support import REPO_ROOT
from support.builders import make_bentham, make_hkr, make_iam, make_marking, make_peter

import data_builders
from data_builders import InvalidInputError, build, read_text_rules
from data_builders import hub as hub_module
from data_builders import writer as writer_module
from data_builders.__main__ import run as cli_main
from data_builders.saintgall import decode_glyph_spelling
from stackmix_htr.common import atomic


def load(out: Path, tmp_path: Path, **kwargs):
    return datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"), **kwargs)


def rows_by_id(dataset_dict) -> dict:
    return {row["sample_id"]: (split, row) for split, dataset in dataset_dict.items() for row in dataset}


def card_text(out: Path) -> str:
    return (out / "README.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------- formats


def test_iam_official_splits_text_and_writers(tmp_path):
    expected = make_iam(tmp_path / "raw")
    build("iam", tmp_path / "raw", tmp_path / "out", progress=False)
    rows = rows_by_id(load(tmp_path / "out", tmp_path))
    assert set(rows) == set(expected)  # comment lines skipped, the line in no split left out
    for line_id, (split, text, writer) in expected.items():
        got_split, row = rows[line_id]
        assert (got_split, row["text"], row["writer"]) == (split, text, writer)
    assert rows["a01-000u-01"][1]["segmentation"] == "err"
    assert read_text_rules(tmp_path / "out") == "iam"
    assert "Left out, in no split: 1" in card_text(tmp_path / "out")


def test_iam_writer_falls_back_to_form_id(tmp_path):
    expected = make_iam(tmp_path / "raw", with_forms=False)
    build("iam", tmp_path / "raw", tmp_path / "out", progress=False)
    rows = rows_by_id(load(tmp_path / "out", tmp_path))
    assert {line_id: row["writer"] for line_id, (_, row) in rows.items()} == {
        line_id: writer for line_id, (_, _, writer) in expected.items()
    }
    assert rows["b02-010-01"][1]["writer"] == "b02-010"


def test_iam_split_lists_folder_with_form_ids(tmp_path):
    make_iam(tmp_path / "raw")
    lists = tmp_path / "iam_b"
    lists.mkdir()
    (lists / "train.lst").write_text("a01-000u\na01-000x-00\n")
    (lists / "valid.lst").write_text("b02-010\n")
    (lists / "test.lst").write_text("c03-003-00\n")
    build("iam", tmp_path / "raw", tmp_path / "out", split_lists=lists, progress=False)
    rows = rows_by_id(load(tmp_path / "out", tmp_path))
    assert {line_id: split for line_id, (split, _) in rows.items()} == {
        "a01-000u-00": "train",
        "a01-000u-01": "train",
        "a01-000x-00": "train",
        "b02-010-00": "validation",
        "b02-010-01": "validation",
        "c03-003-00": "test",
    }


def test_iam_missing_split_lists_is_a_clear_error(tmp_path):
    make_iam(tmp_path / "raw")
    (tmp_path / "raw" / "testset.txt").unlink()
    with pytest.raises(InvalidInputError, match="split lists not found.*--split_lists"):
        build("iam", tmp_path / "raw", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_iam_line_that_is_not_utf8_is_named(tmp_path):
    make_iam(tmp_path / "raw")
    lines_file = tmp_path / "raw" / "ascii" / "lines.txt"
    content = lines_file.read_bytes().replace(b"Labour|life", "Lab\u00f6ur|life".encode("latin-1"))
    lines_file.write_bytes(content)
    with pytest.raises(InvalidInputError, match=r"text not UTF-8 \(1\): a01-000x-00"):
        build("iam", tmp_path / "raw", tmp_path / "out", progress=False)
    build("iam", tmp_path / "raw", tmp_path / "out", skip_invalid=True, progress=False)
    assert "a01-000x-00" not in rows_by_id(load(tmp_path / "out", tmp_path))
    assert "text not UTF-8: 1 (a01-000x-00)" in card_text(tmp_path / "out")


def test_bentham_partitions(tmp_path):
    expected = make_bentham(tmp_path / "raw")
    build("bentham", tmp_path / "raw", tmp_path / "out", progress=False)
    rows = rows_by_id(load(tmp_path / "out", tmp_path))
    assert {line_id: (split, row["text"]) for line_id, (split, row) in rows.items()} == expected
    assert read_text_rules(tmp_path / "out") == "bentham"
    assert "Left out, in no split: 1" in card_text(tmp_path / "out")


def test_bentham_transcription_not_utf8_and_missing(tmp_path):
    make_bentham(tmp_path / "raw")
    base = tmp_path / "raw" / "BenthamDatasetR0-GT"
    (base / "Transcriptions" / "002_080_001_01_03.txt").write_bytes("caf\u00e9".encode("latin-1"))
    (base / "Transcriptions" / "071_146_001_02_01.txt").unlink()
    with pytest.raises(InvalidInputError) as error:
        build("bentham", tmp_path / "raw", tmp_path / "out", progress=False)
    message = str(error.value)
    assert "text not UTF-8 (1): 002_080_001_01_03" in message
    assert "transcription file missing (1): 071_146_001_02_01" in message
    assert "--skip_invalid" in message


def test_peter_mapper_rows_without_split_go_to_train(tmp_path):
    expected = make_peter(tmp_path / "raw")
    build("peter", tmp_path / "raw", tmp_path / "out", progress=False)
    rows = rows_by_id(load(tmp_path / "out", tmp_path))
    assert {sample_id: (split, row["text"]) for sample_id, (split, row) in rows.items()} == expected
    assert read_text_rules(tmp_path / "out") == "peter"


def test_hkr_stages_test1_and_test2_become_test(tmp_path):
    expected = make_hkr(tmp_path / "raw")
    build("hkr", tmp_path / "raw", tmp_path / "out", progress=False)
    rows = rows_by_id(load(tmp_path / "out", tmp_path))
    assert {sample_id: (split, row["text"]) for sample_id, (split, row) in rows.items()} == expected
    assert read_text_rules(tmp_path / "out") == "hkr"


def test_hkr_unknown_stage_is_reported(tmp_path):
    make_hkr(tmp_path / "raw")
    splitting = tmp_path / "raw" / "HKR_splitting.csv"
    splitting.write_text(splitting.read_text().replace("1_1,test2", "1_1,test3"))
    with pytest.raises(InvalidInputError, match=r"unknown stage \(1\): 1_1"):
        build("hkr", tmp_path / "raw", tmp_path / "out", progress=False)


def test_saintgall_glyph_spelling_decoding():
    assert decode_glyph_spelling("h-a-b-e-r-e-t-u-r-pt|et|v-e-l-u-t-i") == "haberetur. & veluti"
    assert decode_glyph_spelling("n-a-s-c-e-r-et-u-r|E-t") == "nascer&ur Et"


# ---------------------------------------------------------------- the built folder


def test_round_trip_images_text_and_metadata(tmp_path):
    rows = make_marking(tmp_path / "raw")
    build("marking_csv", tmp_path / "raw", tmp_path / "out", progress=False)
    files = sorted(path.name for path in (tmp_path / "out" / "data").iterdir())
    assert files == [f"{split}-00000-of-00001.parquet" for split in ("test", "train", "validation")]

    loaded = load(tmp_path / "out", tmp_path)
    assert set(loaded) == {"train", "validation", "test"}
    assert isinstance(loaded["train"].features["image"], datasets.Image)
    got = rows_by_id(loaded)
    stage_to_split = {"train": "train", "valid": "validation", "test": "test"}
    for sample_id, stage, text, writer in rows:
        split, row = got[sample_id]
        assert (split, row["text"], row["writer"]) == (stage_to_split[stage], text, writer)
        source = cv2.imread(str(tmp_path / "raw" / "images" / f"{sample_id}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(np.asarray(row["image"]), source)

    streamed = load(tmp_path / "out", tmp_path, streaming=True)
    streamed_rows = {row["sample_id"]: row for split in streamed for row in streamed[split]}
    assert {sample_id: row["text"] for sample_id, row in streamed_rows.items()} == {r[0]: r[2] for r in rows}
    np.testing.assert_array_equal(
        np.asarray(streamed_rows["s-test-0"]["image"]), np.asarray(got["s-test-0"][1]["image"])
    )


def test_card_records_counts_charset_and_text_rules(tmp_path):
    make_marking(tmp_path / "raw")
    build("marking_csv", tmp_path / "raw", tmp_path / "out", text_rules="bentham", progress=False)
    card = card_text(tmp_path / "out")
    assert read_text_rules(tmp_path / "out") == "bentham"
    assert read_text_rules(tmp_path / "out" / "README.md") == "bentham"
    assert "| train | 2 | 1 |" in card and "| validation | 1 | 1 |" in card and "| test | 1 | 1 |" in card
    distinct = set("first line" + "second, line!" + "third line" + "fourth | line")
    assert f"{len(distinct)} distinct characters" in card
    assert "| \\| | U+007C | 0 | 0 | 1 | 1 |" in card  # "|" escaped so the table stays intact
    assert "Skipped invalid samples: 0" in card


def test_read_text_rules_without_card_is_none(tmp_path):
    assert read_text_rules(tmp_path) is None


def test_large_split_is_sharded(tmp_path):
    rows = [(f"s{index:02d}", "train", f"line {index}", "w") for index in range(30)]
    make_marking(tmp_path / "raw", rows)
    image_bytes = (tmp_path / "raw" / "images" / "s00.png").stat().st_size
    build("marking_csv", tmp_path / "raw", tmp_path / "out", max_shard_mb=image_bytes * 10 / 2**20, progress=False)
    shards = sorted((tmp_path / "out" / "data").glob("train-*.parquet"))
    assert len(shards) >= 3
    assert all(path.name.endswith(f"-of-{len(shards):05d}.parquet") for path in shards)
    loaded = load(tmp_path / "out", tmp_path)
    assert sorted(loaded["train"]["sample_id"]) == [row[0] for row in rows]
    assert set(loaded) == {"train"}  # empty splits have no shard and are left out of `configs`
    assert "Empty, hence absent from the dataset: validation, test." in card_text(tmp_path / "out")


# ---------------------------------------------------------------- bad input


def _break_missing_image(raw: Path) -> None:
    (raw / "images" / "s-train-1.png").unlink()


def _break_truncated_image(raw: Path) -> None:
    path = raw / "images" / "s-train-1.png"
    path.write_bytes(path.read_bytes()[:60])


def _break_garbage_image(raw: Path) -> None:
    (raw / "images" / "s-train-1.png").write_bytes(b"this is not an image at all")


def _rewrite_marking(raw: Path, change) -> None:
    with open(raw / "marking.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    change(rows)
    with open(raw / "marking.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


def _break_empty_text(raw: Path) -> None:
    _rewrite_marking(raw, lambda rows: rows[2].__setitem__(3, "   "))


def _break_duplicate_id(raw: Path) -> None:
    _rewrite_marking(raw, lambda rows: rows[2].__setitem__(0, "s-train-0"))


def _break_unknown_stage(raw: Path) -> None:
    _rewrite_marking(raw, lambda rows: rows[2].__setitem__(2, "holdout"))


@pytest.mark.parametrize(
    "corrupt, problem, bad_id",
    [
        (_break_missing_image, "image file missing", "s-train-1"),
        (_break_truncated_image, "unreadable image", "s-train-1"),
        (_break_garbage_image, "unreadable image", "s-train-1"),
        (_break_empty_text, "empty transcription", "s-train-1"),
        (_break_duplicate_id, "duplicate sample_id", "s-train-0"),
        (_break_unknown_stage, "unknown stage", "s-train-1"),
    ],
)
def test_invalid_sample_stops_the_build_or_is_skipped(tmp_path, corrupt, problem, bad_id):
    raw = tmp_path / "raw"
    make_marking(raw)
    corrupt(raw)
    with pytest.raises(InvalidInputError) as error:
        build("marking_csv", raw, tmp_path / "out", progress=False)
    message = str(error.value)
    assert f"{problem} (1): {bad_id}" in message and "--skip_invalid" in message
    assert not (tmp_path / "out").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["raw"]  # no temporary folder left

    report = build("marking_csv", raw, tmp_path / "out", skip_invalid=True, progress=False)
    assert report.num_skipped == 1
    assert f"- {problem}: 1 ({bad_id})" in card_text(tmp_path / "out")
    assert sum(report.counts.values()) == 3
    assert sum(dataset.num_rows for dataset in load(tmp_path / "out", tmp_path).values()) == 3


def test_error_lists_first_ids_and_the_count(tmp_path):
    rows = [(f"line-{index}", "train", "text", "w") for index in range(9)]
    make_marking(tmp_path / "raw", rows)
    for index in range(2, 9):
        (tmp_path / "raw" / "images" / f"line-{index}.png").unlink()
    with pytest.raises(InvalidInputError) as error:
        build("marking_csv", tmp_path / "raw", tmp_path / "out", progress=False)
    message = str(error.value)
    assert "7 invalid sample(s)" in message
    assert "image file missing (7): line-2, line-3, line-4, line-5, line-6, ... (2 more)" in message
    assert "line-7" not in message


def test_marking_csv_not_utf8_names_the_file(tmp_path):
    make_marking(tmp_path / "raw")
    marking = tmp_path / "raw" / "marking.csv"
    marking.write_bytes(marking.read_text(encoding="utf-8").replace("third", "th\u00efrd").encode("latin-1"))
    with pytest.raises(InvalidInputError, match=r"marking.csv is not UTF-8"):
        build("marking_csv", tmp_path / "raw", tmp_path / "out", progress=False)


def test_marking_csv_missing_column(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "marking.csv").write_text("sample_id,path,text\nx,x.png,hello\n")
    with pytest.raises(InvalidInputError, match=r"lacks the column\(s\) \['stage'\]"):
        build("marking_csv", tmp_path / "raw", tmp_path / "out", progress=False)


# ---------------------------------------------------------------- atomicity


def _fail_after(monkeypatch, calls: int) -> None:
    read = writer_module.read_image_file
    seen = []

    def flaky_read(path):
        seen.append(path)
        if len(seen) > calls:
            raise RuntimeError("simulated crash while building")
        return read(path)

    monkeypatch.setattr(writer_module, "read_image_file", flaky_read)


def test_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    make_marking(tmp_path / "raw")
    _fail_after(monkeypatch, 2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        build("marking_csv", tmp_path / "raw", tmp_path / "out", progress=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["raw"]


def test_overwrite_is_required_and_atomic(tmp_path, monkeypatch):
    make_marking(tmp_path / "raw")
    out = tmp_path / "out"
    build("marking_csv", tmp_path / "raw", out, progress=False)
    old_card = card_text(out)
    old_files = sorted(path.name for path in (out / "data").iterdir())

    with pytest.raises(FileExistsError, match="--overwrite"):
        build("marking_csv", tmp_path / "raw", out, progress=False)

    with monkeypatch.context() as patch:
        _fail_after(patch, 3)
        with pytest.raises(RuntimeError):
            build("marking_csv", tmp_path / "raw", out, overwrite=True, progress=False)
    assert card_text(out) == old_card
    assert sorted(path.name for path in (out / "data").iterdir()) == old_files
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out", "raw"]

    _rewrite_marking(tmp_path / "raw", lambda rows: rows[1].__setitem__(3, "replaced text"))
    build("marking_csv", tmp_path / "raw", out, overwrite=True, progress=False)
    assert "replaced text" in rows_by_id(load(out, tmp_path))["s-train-0"][1]["text"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hf-cache", "out", "raw"]


def test_overwrite_refuses_a_folder_that_is_not_a_built_dataset(tmp_path):
    make_marking(tmp_path / "raw")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a dataset built by data_builders"):
        build("marking_csv", tmp_path / "raw", precious, overwrite=True, progress=False)
    assert (precious / "notes.txt").read_text() == "keep me"


# ---------------------------------------------------------------- synthetic


def _synthetic_rows(out: Path, tmp_path: Path) -> dict:
    return {
        row["sample_id"]: (split, row["text"], row["writer"], np.asarray(row["image"]))
        for split, dataset in load(out, tmp_path).items()
        for row in dataset
    }


def test_synthetic_is_deterministic_by_seed(tmp_path):
    options = dict(num_lines=10, image_height=32, progress=False)
    build("synthetic", None, tmp_path / "a", seed=5, **options)
    build("synthetic", None, tmp_path / "b", seed=5, num_workers=2, **options)
    build("synthetic", None, tmp_path / "c", seed=6, **options)
    first, again, other = (_synthetic_rows(tmp_path / name, tmp_path) for name in "abc")
    assert first.keys() == again.keys()
    for sample_id, (split, text, writer, image) in first.items():
        assert again[sample_id][:3] == (split, text, writer)
        np.testing.assert_array_equal(again[sample_id][3], image)
    assert [value[1] for value in first.values()] != [value[1] for value in other.values()]


def test_synthetic_images_look_like_scanned_lines(tmp_path):
    build(
        "synthetic",
        None,
        tmp_path / "out",
        num_lines=20,
        image_height=48,
        split_ratio=(0.5, 0.25, 0.25),
        progress=False,
    )
    loaded = load(tmp_path / "out", tmp_path)
    assert {split: dataset.num_rows for split, dataset in loaded.items()} == {"train": 10, "validation": 5, "test": 5}
    for row in loaded["train"]:
        image = np.asarray(row["image"])
        assert image.ndim == 2 and image.shape[0] == 48 and image.shape[1] > 48
        assert np.median(image) > 180 and image.min() < 90  # light paper, dark ink
        assert row["text"].strip() and set(row["text"]) <= set(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'()-"
        )
    assert read_text_rules(tmp_path / "out") == "none"


# ---------------------------------------------------------------- CLI and Hub


def test_cli_builds_and_reports_errors(tmp_path, capsys):
    make_marking(tmp_path / "raw")
    _break_missing_image(tmp_path / "raw")
    base = ["marking_csv", "--raw", str(tmp_path / "raw"), "--output_dir", str(tmp_path / "out"), "--no_progress"]
    assert cli_main(base) == 2
    assert "image file missing (1): s-train-1" in capsys.readouterr().err
    assert cli_main(base + ["--skip_invalid"]) == 0
    assert "train 1, validation 1, test 1" in capsys.readouterr().out
    assert cli_main(base + ["--skip_invalid"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_cli_takes_the_former_flag_spellings(tmp_path, capsys):
    make_marking(tmp_path / "raw")
    former = ["marking_csv", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"), "--no-progress"]
    assert cli_main(former + ["--max-shard-mb=1", "--skip-invalid"]) == 0
    assert f"wrote {tmp_path / 'out'}: train 2" in capsys.readouterr().out


def test_cli_help_lists_builders(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert all(name in help_text for name in data_builders.BUILDERS)


def test_push_to_hub_uploads_the_built_folder(tmp_path, monkeypatch):
    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            files = sorted(
                str(path.relative_to(kwargs["folder_path"])) for path in Path(kwargs["folder_path"]).rglob("*")
            )
            calls.append(("upload_folder", kwargs, files))

    monkeypatch.setattr(hub_module, "HfApi", FakeApi)
    make_marking(tmp_path / "raw")
    build(
        "marking_csv",
        tmp_path / "raw",
        tmp_path / "out",
        push_to_hub="me/lines",
        private=True,
        token="t",
        progress=False,
    )
    assert calls[0] == ("init", "t")
    assert calls[1] == ("create_repo", "me/lines", {"repo_type": "dataset", "private": True, "exist_ok": True})
    _, kwargs, files = calls[2]
    assert Path(kwargs["folder_path"]) == tmp_path / "out"
    assert (kwargs["repo_id"], kwargs["repo_type"]) == ("me/lines", "dataset")
    assert "README.md" in files and "data/train-00000-of-00001.parquet" in files


# ---------------------------------------------------------------- interrupted builds


def dead_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_sigterm_stops_a_build_without_leaving_its_temporary_folder(tmp_path):
    make_marking(tmp_path / "raw")
    # The build waits, temporary folder written, until the test has sent SIGTERM.
    hook = (
        "import sys, time\n"
        "import data_builders.writer as writer\n"
        "def waiting_card(*args):\n"
        "    print('writing the card', flush=True)\n"
        "    time.sleep(60)\n"
        "writer.write_card = waiting_card\n"
        "from data_builders.__main__ import run\n"
        "sys.exit(run(sys.argv[1:]))\n"
    )
    command = [sys.executable, "-c", hook, "marking_csv", "--raw", tmp_path / "raw", "--output_dir", tmp_path / "out"]
    command.append("--no_progress")
    process = subprocess.Popen(
        list(map(str, command)), cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "writing the card\n"
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".out.tmp-")]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    assert process.stderr.read() == "stopped by SIGTERM\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["raw"]


def test_temporary_folders_of_dead_writers_are_removed_by_the_next_build(tmp_path):
    host, gone = socket.gethostname(), dead_pid()
    stale = tmp_path / f".out.tmp-{host}-{gone}-k2j4h5g6"
    live = tmp_path / f".out.tmp-{host}-{os.getpid()}-a1b2c3d4"  # a build still running
    elsewhere = tmp_path / f".out.tmp-another-host-{gone}-a1b2c3d4"  # its host decides whether it runs
    unrelated = tmp_path / f".other.tmp-{host}-{gone}-a1b2c3d4"
    for folder in (stale, live, elsewhere, unrelated):
        (folder / "data").mkdir(parents=True)
    make_marking(tmp_path / "raw")
    build("marking_csv", tmp_path / "raw", tmp_path / "out", progress=False)
    assert not stale.exists() and live.exists() and elsewhere.exists() and unrelated.exists()


def test_an_overwrite_killed_between_its_renames_gets_its_previous_version_back(tmp_path):
    make_marking(tmp_path / "raw")
    build("marking_csv", tmp_path / "raw", tmp_path / "out", progress=False)
    card = card_text(tmp_path / "out")
    # As the kill left it: the previous version moved aside, the new one not yet in place.
    aside = tmp_path / f".out.old-{socket.gethostname()}-{dead_pid()}-q1w2e3r4"
    aside.mkdir()
    (tmp_path / "out").rename(aside / "out")
    atomic.make_temporary_folder(tmp_path / "out").rmdir()
    assert card_text(tmp_path / "out") == card
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out", "raw"]
