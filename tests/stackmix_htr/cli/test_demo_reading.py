"""The demo's reading and writing behind the page (app.py's functions, no browser)."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from support.banks import make_bank
from support.pages import make_drawn_pages
from support.recognizers import make_checkpoint
from support.training import REPO_ROOT, training_env
from transformers import pipeline

from modeling_stackmix_htr.pipeline_stackmix_htr import TASK
from stackmix_htr.page_formats import PageFile, PageSource, cut_lines, load_page

gr = pytest.importorskip("gradio", reason="the demo extra is not installed (pip install -e '.[demo]')")
from stackmix_htr.cli import demo as app  # noqa: E402  (needs gradio)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def demo_and_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    checkpoint = make_checkpoint(root / "checkpoint")
    bank = make_bank(root, ["abc abd", "bad cab", "dab", "a cd", "cc dd aa"])
    args = app.parse_args(["--model", str(checkpoint), "--bank", str(bank)])
    (root / "examples").mkdir()
    return app.build_demo(args, root / "examples"), checkpoint


def test_examples_come_from_the_bank(demo_and_checkpoint):
    demo, _ = demo_and_checkpoint
    assert len(demo.line_examples) == 5 and all(layout is None for _, layout in demo.line_examples)
    assert demo.text_examples == ["cc dd aa"]  # the bank's texts of at least 8 characters


def test_a_page_is_read_line_by_line_in_reading_order(demo_and_checkpoint, tmp_path):
    demo, checkpoint = demo_and_checkpoint
    make_drawn_pages(tmp_path, ["scan"], layout_format="alto", xml_folder="alto")
    image, xml = tmp_path / "scan.png", tmp_path / "alto" / "scan.xml"
    with PageSource(tmp_path) as source:
        cuts = sorted(
            (cut for cut in cut_lines(load_page(source, PageFile("alto/scan.xml", "alto"))) if cut.pixels is not None),
            key=lambda cut: cut.layout.reading_order,
        )
    expected = pipeline(TASK, model=str(checkpoint))([cut.pixels for cut in cuts])
    # The upload keeps neither the page's folder nor its file name.
    uploaded = tmp_path / "upload" / "whatever name.png"
    uploaded.parent.mkdir()
    uploaded.write_bytes(image.read_bytes())
    text, score, shaded, rows, info = app.read(demo, str(uploaded), str(xml), "greedy", 16, 0, 0)
    assert text.split("\n") == [result["text"] for result in expected]
    assert score == pytest.approx(np.mean([result["score"] for result in expected]), abs=1e-4)
    assert info == f"{len(cuts)} line(s), greedy decoding"
    assert shaded.shape == (
        sum(cut.pixels.shape[0] for cut in cuts) + app.LINE_GAP * (len(cuts) - 1),
        max(cut.pixels.shape[1] for cut in cuts),
        3,
    )
    assert {row[0] for row in rows} == {cut.layout.line_id for cut in cuts}


def test_beam_search_reads_as_the_pipeline_does(demo_and_checkpoint, tmp_path):
    demo, checkpoint = demo_and_checkpoint
    rng = np.random.default_rng(1)
    line = np.where(rng.random((32, 180)) < 0.25, 30, 220).astype(np.uint8)
    path = tmp_path / "line.png"
    Image.fromarray(line).save(path)
    expected = pipeline(TASK, model=str(checkpoint))(str(path), decoder="beam", beam_width=4)
    text, score, shaded, rows, info = app.read(demo, str(path), None, "beam", 4, 0, 0)
    assert (text, info) == (expected["text"], "1 line(s), beam decoding")
    assert "".join(row[1] for row in rows).split() == text.split()  # the spans of the text shown
    assert shaded.shape == (32, 180, 3)


def test_bad_uploads_are_reported_on_the_page(demo_and_checkpoint, tmp_path):
    demo, _ = demo_and_checkpoint
    with pytest.raises(gr.Error, match="Drop a line image"):
        app.read(demo, None, None, "greedy", 16, 0, 0)
    broken = tmp_path / "broken.xml"
    broken.write_text("<not-a-page/>")
    (tmp_path / "line.png").write_bytes(b"not an image")
    with pytest.raises(gr.Error):
        app.read(demo, str(tmp_path / "line.png"), str(broken), "greedy", 16, 0, 0)
    with pytest.raises(gr.Error, match="cannot read image"):
        app.read(demo, str(tmp_path / "line.png"), None, "greedy", 16, 0, 0)


def test_an_upload_that_is_not_an_image_is_named_in_the_pages_words(tmp_path):
    from gradio.data_classes import FileData

    upload = tmp_path / "notes.png"
    upload.write_text("a text file with an image suffix")
    with pytest.raises(gr.Error, match=r"notes.png is not an image this page can read \(PNG, JPEG, TIFF, ...\)"):
        app.reports_unreadable_uploads(gr.Image(type="filepath")).preprocess(
            FileData(path=str(upload), orig_name="notes.png")
        )


def test_writing_keeps_its_seed_and_names_what_the_bank_cannot_write(demo_and_checkpoint):
    demo, _ = demo_and_checkpoint
    image, seed, note = app.write(demo, "abc dab", 7, False)
    again, _, _ = app.write(demo, "abc dab", 7, False)
    assert seed == 7 and np.array_equal(image, again) and "seed 7" in note
    # A drawn seed is reported back and writes the same line again.
    fresh, drawn, note = app.write(demo, "cab dd", 7, True)
    assert f"seed {drawn}" in note and np.array_equal(app.write(demo, "cab dd", drawn, False)[0], fresh)
    image, _, note = app.write(demo, "xyz", 3, False)
    assert image is None and "'x', 'y', 'z'" in note


def test_a_missing_checkpoint_stops_the_app_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "app.py", "--model", str(tmp_path / "nothing")],
        cwd=REPO_ROOT,
        env=training_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: checkpoint {tmp_path / 'nothing'}: no such folder"]


def test_examples_take_line_images_folders_and_pages(tmp_path):
    make_drawn_pages(tmp_path / "pages", ["scan"], layout_format="page", xml_folder="page")
    lines = tmp_path / "lines"
    lines.mkdir()
    for name in ("b.png", "a.png"):
        Image.fromarray(np.full((8, 20), 200, np.uint8)).save(lines / name)
    rows = app.example_lines([str(lines / "a.png"), str(lines), str(tmp_path / "pages" / "page" / "scan.xml")])
    assert rows == [
        [str(lines / "a.png"), None],
        [str(lines / "a.png"), None],
        [str(lines / "b.png"), None],
        [str(tmp_path / "pages" / "scan.png"), str(tmp_path / "pages" / "page" / "scan.xml")],
    ]
    with pytest.raises(app.InputError, match="not a line image"):
        app.example_lines([str(tmp_path / "notes.txt")])
