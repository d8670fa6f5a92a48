"""transcribe.py: recognised text written into copies of PAGE-XML and ALTO pages, text outputs,
line images, resume, bad input and two processes sharing the pages."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from support.pages import ALTO_V4, PAGE_2013, PAGE_2019, draw_page, drawn_lines, make_drawn_pages, zip_folder
from support.recognizers import make_checkpoint
from support.training import REPO_ROOT, training_env, two_cpu_processes
from transformers import pipeline

from modeling_stackmix_htr import HandwritingRecognitionPipeline
from stackmix_htr.cli import transcribe
from stackmix_htr.common.errors import InputError
from stackmix_htr.page_formats import PageFile, PageSource, cut_lines, load_page, read_layout
from stackmix_htr.recognition import transcription

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    texts = [line.text + " p1 p2 p3 p4 pa pb" for line in drawn_lines()]
    return make_checkpoint(tmp_path_factory.mktemp("checkpoint"), texts)


@pytest.fixture(scope="module")
def recognizer(checkpoint) -> HandwritingRecognitionPipeline:
    return pipeline("handwriting-recognition", model=str(checkpoint))


def run(checkpoint: Path, inputs, output_dir: Path, *options) -> transcription.Counts:
    args = [
        "--model",
        str(checkpoint),
        "--input",
        *map(str, inputs),
        "--output_dir",
        str(output_dir),
        "--device",
        "cpu",
    ]
    return transcribe.main([*args, "--batch_size", "2", *map(str, options)])


def digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def expected_lines(recognizer, root: Path, xml_name: str, layout_format: str) -> dict[str, dict]:
    """line id -> {"text", "score"} of the pipeline on each line cut out of the page."""
    with PageSource(root) as source:
        cut = [
            line for line in cut_lines(load_page(source, PageFile(xml_name, layout_format))) if line.pixels is not None
        ]
    results = recognizer([line.pixels for line in cut])
    return {line.layout.line_id: result for line, result in zip(cut, results)}


def local(element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def page_signature(root) -> list[tuple]:
    """Every element and attribute except the TextEquivs of lines and regions (what transcription
    replaces), in document order."""
    signature = []

    def visit(element, replaced: bool):
        if not isinstance(element.tag, str):
            return
        replaced = replaced or (local(element) == "TextEquiv" and element in text_equivs)
        if not replaced:
            signature.append((local(element), sorted(element.attrib.items()), (element.text or "").strip()))
        for child in element:
            visit(child, replaced)

    text_equivs = {
        child
        for element in root.iter()
        if local(element) in ("TextLine", "TextRegion")
        for child in element
        if local(child) == "TextEquiv"
    }
    visit(root, False)
    return signature


def alto_signature(root) -> list[tuple]:
    """Every element and attribute except the Strings' text (CONTENT) and confidence (WC)."""
    return [
        (
            local(element),
            sorted(
                (key, value)
                for key, value in element.attrib.items()
                if local(element) != "String" or key not in ("CONTENT", "WC")
            ),
        )
        for element in root.iter()
        if isinstance(element.tag, str)
    ]


# ---------------------------------------------------------------- pages in, pages out


@pytest.mark.parametrize("namespace", [PAGE_2013, PAGE_2019])
def test_page_xml_copies_hold_the_recognised_text_and_keep_everything_else(checkpoint, recognizer, tmp_path, namespace):
    raw = tmp_path / "raw"
    pages = make_drawn_pages(raw, ["p1", "p2"], namespace=namespace, xml_folder="page")
    before = digest(raw)
    counts = run(checkpoint, [raw], tmp_path / "out")
    assert (counts.pages, counts.lines, counts.skipped_done) == (2, 6, 0)
    assert digest(raw) == before  # inputs untouched
    for name, lines in pages.items():
        original = ET.parse(raw / "page" / f"{name}.xml").getroot()
        written_bytes = (tmp_path / "out" / "page" / f"{name}.xml").read_bytes()
        written = ET.fromstring(written_bytes)
        assert page_signature(written) == page_signature(original)
        assert b"<!-- written by the test fixtures -->" in written_bytes
        expected = expected_lines(recognizer, raw, f"page/{name}.xml", "page")
        assert len({result["text"] for result in expected.values()}) == 3
        for line in written.iter(f"{{{namespace}}}TextLine"):
            (equiv,) = [child for child in line if local(child) == "TextEquiv"]
            assert (equiv.find(f"{{{namespace}}}Unicode").text or "") == expected[line.get("id")]["text"]
            assert float(equiv.get("conf")) == pytest.approx(expected[line.get("id")]["score"], abs=2e-3)
        # A region's own text becomes its lines' new texts in reading order.
        region = written.find(f".//{{{namespace}}}TextRegion[@id='r1']")
        (region_equiv,) = [child for child in region if local(child) == "TextEquiv"]
        assert region_equiv.find(f"{{{namespace}}}Unicode").text == "\n".join(
            expected[f"r1l{index}"]["text"] for index in (1, 2)
        )


def test_real_alto_copy_keeps_every_element_and_attribute(checkpoint, recognizer, real_alto_dir, tmp_path):
    stem = "FRAN_0025_2674_L-0"
    raw = tmp_path / "raw"
    raw.mkdir()
    for suffix in (".xml", ".jpg"):
        shutil.copy(real_alto_dir / f"{stem}{suffix}", raw)
    counts = run(checkpoint, [raw / f"{stem}.xml"], tmp_path / "out", "--batch_size", "16")
    assert (counts.pages, counts.lines, counts.lines_not_cut) == (1, 234, 1)
    original = ET.parse(raw / f"{stem}.xml").getroot()
    written = ET.parse(tmp_path / "out" / f"{stem}.xml").getroot()
    assert alto_signature(written) == alto_signature(original)
    expected = expected_lines(recognizer, raw, f"{stem}.xml", "alto")
    strings = {line.get("ID"): line.find(f"{{{ALTO_V4}}}String") for line in written.iter(f"{{{ALTO_V4}}}TextLine")}
    assert {line_id for line_id, string in strings.items() if string.get("WC") is not None} == set(expected)
    for line_id, result in expected.items():
        assert strings[line_id].get("CONTENT") == result["text"]
        assert float(strings[line_id].get("WC")) == pytest.approx(result["score"], abs=2e-3)
    # The line without a usable polygon keeps its original String.
    assert (
        strings["eSc_line_38522abe"].attrib
        == original.find(f".//{{{ALTO_V4}}}TextLine[@ID='eSc_line_38522abe']/{{{ALTO_V4}}}String").attrib
    )


def test_alto_words_become_one_string_of_the_line(checkpoint, recognizer, tmp_path):
    raw = tmp_path / "raw"
    make_drawn_pages(raw, ["a"], layout_format="alto", xml_folder="alto")
    run(checkpoint, [raw], tmp_path / "out")
    written = ET.parse(tmp_path / "out" / "alto" / "a.xml").getroot()
    expected = expected_lines(recognizer, raw, "alto/a.xml", "alto")
    for line in written.iter(f"{{{ALTO_V4}}}TextLine"):
        words = [local(child) for child in line if local(child) in ("String", "SP", "HYP")]
        assert words == ["String"]
        string = line.find(f"{{{ALTO_V4}}}String")
        assert string.get("CONTENT") == expected[line.get("ID")]["text"]
        assert string.get("ID") == f"{line.get('ID')}s0" and "CC" not in string.attrib and len(string) == 0
        assert [string.get(key) for key in ("HPOS", "VPOS", "WIDTH", "HEIGHT")] == [
            line.get(key) for key in ("HPOS", "VPOS", "WIDTH", "HEIGHT")
        ]


def test_text_outputs_and_conversions(checkpoint, recognizer, tmp_path):
    raw = tmp_path / "raw"
    pages = make_drawn_pages(raw, ["pa"], layout_format="alto")
    make_drawn_pages(raw / "more", ["pb"], layout_format="alto")
    expected = expected_lines(recognizer, raw, "pa.xml", "alto")
    in_reading_order = [expected[line.line_id]["text"] for line in pages["pa"]]
    run(checkpoint, [raw], tmp_path / "txt", "--format", "txt")
    assert (tmp_path / "txt" / "pa.txt").read_text(encoding="utf-8") == "".join(
        text + "\n" for text in in_reading_order
    )
    assert (tmp_path / "txt" / "more" / "pb.txt").is_file()
    run(checkpoint, [raw / "pa.xml"], tmp_path / "jsonl", "--format", "jsonl")
    rows = [json.loads(row) for row in (tmp_path / "jsonl" / "pa.jsonl").read_text().splitlines()]
    assert [row["line_id"] for row in rows] == ["r1l1", "r1l2", "r2l1"]
    assert [row["reading_order"] for row in rows] == [0, 1, 2] and {row["region_id"] for row in rows} == {"r1", "r2"}
    assert [row["text"] for row in rows] == in_reading_order
    assert all(row["score"] == pytest.approx(expected[row["line_id"]]["score"], abs=1e-5) for row in rows)
    # ALTO in, PAGE out (and back): a new file with the layout and the recognised texts.
    run(checkpoint, [raw / "pa.xml"], tmp_path / "page", "--format", "page")
    converted = read_layout((tmp_path / "page" / "pa.xml").read_bytes())
    source = read_layout((raw / "pa.xml").read_bytes())
    assert converted.format == "page" and converted.image_filename == "pa.png"
    assert [(line.line_id, line.region_id, line.polygon, line.baseline) for line in converted.lines] == [
        (line.line_id, line.region_id, line.polygon, line.baseline) for line in source.lines
    ]
    assert [line.text for line in converted.lines] == in_reading_order
    shutil.copy(raw / "pa.png", tmp_path / "page")
    run(checkpoint, [tmp_path / "page" / "pa.xml"], tmp_path / "alto", "--format", "alto")
    back = read_layout((tmp_path / "alto" / "pa.xml").read_bytes())
    assert back.format == "alto" and [line.polygon for line in back.lines] == [line.polygon for line in source.lines]


def test_line_images_give_text(checkpoint, recognizer, tmp_path):
    lines = tmp_path / "lines"
    for index, width in enumerate((60, 140, 90)):
        draw_page(
            lines / ("nested" if index else "") / f"l{index}.png",
            [drawn_lines()[0]],
            seed=index,
            width=width,
            height=40,
        )
    paths = sorted(lines.rglob("*.png"))
    expected = {
        path.relative_to(lines).with_suffix("").as_posix(): result
        for path, result in zip(paths, recognizer([str(path) for path in paths]))
    }
    counts = run(checkpoint, [lines], tmp_path / "out")
    assert (counts.line_images, counts.lines) == (3, 3)
    assert {name: (tmp_path / "out" / f"{name}.txt").read_text() for name in expected} == {
        name: result["text"] + "\n" for name, result in expected.items()
    }
    run(checkpoint, [paths[0]], tmp_path / "jsonl", "--format", "jsonl")
    (row,) = [json.loads(line) for line in (tmp_path / "jsonl" / f"{paths[0].stem}.jsonl").read_text().splitlines()]
    name = paths[0].relative_to(lines).with_suffix("").as_posix()
    assert row == {
        "image": paths[0].name,
        "text": expected[name]["text"],
        "score": pytest.approx(expected[name]["score"], abs=1e-5),
    }


def test_onnx_backend_writes_the_pytorch_readings(checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    raw = tmp_path / "raw"
    make_drawn_pages(raw, ["pa", "pb"], layout_format="alto")
    outputs = {}
    for backend in ("pytorch", "onnx"):
        counts = run(checkpoint, [raw], tmp_path / backend, "--format", "jsonl", "--backend", backend)
        assert (counts.pages, counts.lines) == (2, 6)
        outputs[backend] = {
            name: [json.loads(row) for row in (tmp_path / backend / f"{name}.jsonl").read_text().splitlines()]
            for name in ("pa", "pb")
        }
    assert len({row["text"] for rows in outputs["pytorch"].values() for row in rows}) > 1
    for name, rows in outputs["pytorch"].items():
        assert [row["text"] for row in outputs["onnx"][name]] == [row["text"] for row in rows]
        assert [row["score"] for row in outputs["onnx"][name]] == pytest.approx(
            [row["score"] for row in rows], abs=1e-4
        )
    with pytest.raises(SystemExit):
        transcribe.parse_args(
            ["--model", "m", "--input", "x", "--output_dir", "o", "--backend", "onnx", "--device", "cuda"]
        )


def test_decoder_options_reach_the_decoding(checkpoint, recognizer, tmp_path):
    lines = tmp_path / "lines"
    for index, width in enumerate((70, 130)):
        draw_page(lines / f"l{index}.png", [drawn_lines()[index]], seed=index, width=width, height=40)
    paths = sorted(lines.glob("*.png"))
    expected = recognizer([str(path) for path in paths], decoder="beam", beam_width=3)
    run(checkpoint, [lines], tmp_path / "beam", "--decoder", "beam", "--beam_width", "3")
    assert [(tmp_path / "beam" / f"{path.stem}.txt").read_text() for path in paths] == [
        r["text"] + "\n" for r in expected
    ]
    # Weights of a language model the checkpoint does not have stop the run before any work.
    with pytest.raises(InputError, match="--alpha and --beta weigh a language model"):
        run(checkpoint, [lines], tmp_path / "lm", "--decoder", "beam", "--lm_weight", "0.5")
    assert not (tmp_path / "lm").exists()


# ---------------------------------------------------------------- resume


def test_resume_skips_finished_pages(checkpoint, tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    make_drawn_pages(raw, ["p1", "p2", "p3"])
    run(checkpoint, [raw], tmp_path / "reference")
    reference = digest(tmp_path / "reference")

    # Interrupted after the first page was written: that page is complete, nothing else is.
    real_write = transcription.write_file_atomic
    written = []

    def write_then_crash(path, data):
        if written:
            raise KeyboardInterrupt
        written.append(path)
        real_write(path, data)

    monkeypatch.setattr(transcription, "write_file_atomic", write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        run(checkpoint, [raw], tmp_path / "out")
    monkeypatch.undo()
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["p1.xml"]
    (tmp_path / "out" / "p1.xml").write_bytes(b"marker: not transcribed again")

    counts = run(checkpoint, [raw], tmp_path / "out")
    assert (counts.skipped_done, counts.pages) == (1, 2)
    assert (tmp_path / "out" / "p1.xml").read_bytes() == b"marker: not transcribed again"
    assert {name: value for name, value in digest(tmp_path / "out").items() if name != "p1.xml"} == {
        name: value for name, value in reference.items() if name != "p1.xml"
    }
    counts = run(checkpoint, [raw], tmp_path / "out", "--overwrite")
    assert counts.pages == 3 and digest(tmp_path / "out") == reference


# ---------------------------------------------------------------- bad input


def test_bad_pages_stop_the_run_or_are_skipped(checkpoint, tmp_path):
    raw = tmp_path / "raw"
    make_drawn_pages(raw, ["p1", "p2", "p3"], xml_folder="page")
    (raw / "p2.png").unlink()
    with pytest.raises(
        transcription.TranscriptionError, match=r"raw/page/p2.xml: page image missing: 'p2.png'.*--skip_invalid"
    ):
        run(checkpoint, [raw], tmp_path / "out")
    counts = run(checkpoint, [raw], tmp_path / "out", "--skip_invalid")
    assert (counts.pages, counts.skipped_invalid) == (2, 1)
    assert sorted(path.name for path in (tmp_path / "out" / "page").iterdir()) == ["p1.xml", "p3.xml"]


def test_inputs_are_never_replaced(checkpoint, tmp_path):
    make_drawn_pages(tmp_path / "raw", ["p"])
    with pytest.raises(transcription.TranscriptionError, match="would replace the input"):
        run(checkpoint, [tmp_path / "raw"], tmp_path / "raw")
    with pytest.raises(transcription.TranscriptionError, match="--format page needs pages"):
        run(checkpoint, [tmp_path / "raw" / "p.png"], tmp_path / "out", "--format", "page")
    with pytest.raises(transcription.TranscriptionError, match="input not found"):
        run(checkpoint, [tmp_path / "nowhere"], tmp_path / "out")


def test_an_output_folder_inside_the_input_is_never_read_back(checkpoint, tmp_path):
    raw = tmp_path / "raw"
    make_drawn_pages(raw, ["p1", "p2"])
    first = run(checkpoint, [raw], raw / "out")
    again = run(checkpoint, [raw], raw / "out", "--overwrite")
    assert first.pages == again.pages == 2
    assert sorted(path.relative_to(raw / "out").as_posix() for path in (raw / "out").rglob("*")) == ["p1.xml", "p2.xml"]


def test_zip_entries_with_absolute_names_are_skipped_and_nothing_is_written_outside(checkpoint, tmp_path, capsys):
    make_drawn_pages(tmp_path / "export", ["a"])
    archive = zip_folder(tmp_path / "export", tmp_path / "export.zip")
    with zipfile.ZipFile(archive, "a") as handle:
        handle.writestr(zipfile.ZipInfo(f"{tmp_path}/escaped/a.xml"), (tmp_path / "export" / "a.xml").read_bytes())
        handle.writestr(zipfile.ZipInfo("../escaped/a.xml"), (tmp_path / "export" / "a.xml").read_bytes())
    counts = run(checkpoint, [archive], tmp_path / "out")
    assert counts.pages == 1 and not (tmp_path / "escaped").exists()
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["a.xml"]
    assert "skipped 2 entries of" in capsys.readouterr().err


def test_an_unwritable_output_folder_is_refused_before_the_model_is_loaded(checkpoint, tmp_path, monkeypatch):
    make_drawn_pages(tmp_path / "raw", ["p"])
    monkeypatch.setattr(transcribe, "load_checkpoint", lambda *args, **kwargs: pytest.fail("the model was loaded"))
    (tmp_path / "a_file").write_text("")
    with pytest.raises(InputError, match=r"a_file is a file, not a folder"):
        run(checkpoint, [tmp_path / "raw"], tmp_path / "a_file" / "out")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode))
    with pytest.raises(InputError, match=r"locked is not writable"):
        run(checkpoint, [tmp_path / "raw"], locked / "out")


def test_a_page_declaring_entities_is_written_back_well_formed(checkpoint, recognizer, tmp_path):
    raw = tmp_path / "raw"
    make_drawn_pages(raw, ["p"], layout_format="alto")
    xml = raw / "p.xml"
    text = xml.read_text(encoding="utf-8").replace(
        "<?xml version='1.0' encoding='UTF-8'?>\n",
        "<?xml version='1.0' encoding='UTF-8'?>\n<!DOCTYPE alto [<!ENTITY ae \"\u00e6\">]>\n",
    )
    text = text.replace('CONTENT="third"', 'CONTENT="th&ae;rd"').replace(
        'FONTSIZE="12"', 'FONTFAMILY="C&ae;sar" FONTSIZE="12"'
    )
    xml.write_text(text, encoding="utf-8")
    run(checkpoint, [raw], tmp_path / "out")
    written = (tmp_path / "out" / "p.xml").read_bytes()
    assert b"<!DOCTYPE alto [" in written and b'<!ENTITY ae "\xc3\xa6">' in written
    root = ET.fromstring(written)  # well-formed: every reference it keeps is declared
    assert next(root.iter(f"{{{ALTO_V4}}}TextStyle")).get("FONTFAMILY") == "C\u00e6sar"


def script_arguments(checkpoint: Path, raw: Path, output_dir: Path) -> list[str]:
    """transcribe.py as a script, reading `raw` with `checkpoint` into `output_dir`."""
    return [
        str(REPO_ROOT / "transcribe.py"),
        "--model",
        str(checkpoint),
        "--input",
        str(raw),
        "--output_dir",
        str(output_dir),
    ]


def test_command_line_errors_exit_2_without_traceback(checkpoint, tmp_path):
    raw = tmp_path / "raw"
    make_drawn_pages(raw, ["p1"], xml_folder="page")
    (raw / "page" / "p1.xml").write_text(f'<PcGts xmlns="{PAGE_2019}"><Page imageFilename="p1.png">')
    command = [sys.executable, *script_arguments(checkpoint, raw, tmp_path / "out")]
    result = subprocess.run(command, cwd=REPO_ROOT, env=training_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "error: " in result.stderr and "page/p1.xml: malformed XML" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- several processes


def test_two_cpu_processes_share_the_pages(checkpoint, tmp_path):
    raw = tmp_path / "raw"
    make_drawn_pages(raw, ["p1", "p2", "p3", "p4", "p5"], xml_folder="page")
    run(checkpoint, [raw], tmp_path / "one")
    command = [
        *two_cpu_processes(port=29700 + os.getpid() % 1000),
        *script_arguments(checkpoint, raw, tmp_path / "two"),
    ]
    command += ["--batch_size", "2"]
    env = {**training_env(), "ACCELERATE_USE_CPU": "1"}
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:]
    # Five pages over two processes, each page once: the totals count every page exactly once.
    assert "transcribed 15 lines (5 pages, 0 line images)" in result.stdout, result.stdout[-2000:]
    assert "with 2 process(es)" in result.stdout, result.stdout[-1500:]
    assert digest(tmp_path / "two") == digest(tmp_path / "one")


def test_batch_size_defaults_to_four_lines_on_a_cpu(checkpoint, tmp_path, monkeypatch):
    draw_page(tmp_path / "lines" / "l0.png", [drawn_lines()[0]], seed=0, width=80, height=40)
    seen = []
    recognise = transcription.recognise
    monkeypatch.setattr(
        transcription,
        "recognise",
        lambda recognizer, lines, batch_size, decoding: (
            seen.append(batch_size) or recognise(recognizer, lines, batch_size, decoding)
        ),
    )
    arguments = ["--model", str(checkpoint), "--input", str(tmp_path / "lines"), "--device", "cpu"]
    transcribe.main([*arguments, "--output_dir", str(tmp_path / "out")])
    transcribe.main([*arguments, "--output_dir", str(tmp_path / "out3"), "--batch_size", "3"])
    assert seen == [4, 3]
