"""app.py in a real browser: headless Chromium reads a Saint Gall line and writes a text on the demo page."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

import pytest
from support.banks import make_bank
from support.recognizers import make_checkpoint
from support.training import REPO_ROOT, training_env
from transformers import pipeline

from modeling_stackmix_htr.pipeline_stackmix_htr import TASK

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
STARTUP_SECONDS = 300  # importing gradio, torch and transformers takes minutes on a busy 2-core machine
URL_LINE = re.compile(r"Running on local URL: (http://\S+)")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium installed (Debian: apt-get install chromium); the demo is tested in a real browser",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def demo_url(tmp_path, saint_gall_line):
    """app.py serving a tiny checkpoint and bank on 127.0.0.1; yields its URL and stops it afterwards."""
    pytest.importorskip("gradio", reason="the demo extra is not installed (pip install -e '.[demo]')")
    checkpoint = make_checkpoint(tmp_path / "checkpoint")
    bank = make_bank(tmp_path / "bank_data", ["abc abd", "bad cab", "dab", "a cd", "cc dd aa"])
    command = [
        sys.executable,
        "app.py",
        "--model",
        checkpoint,
        "--bank",
        bank,
        "--examples",
        saint_gall_line,
        "--server_name",
        "127.0.0.1",
        "--server_port",
        str(free_port()),
    ]
    env = {**training_env(), "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    app = subprocess.Popen(
        list(map(str, command)), cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output, deadline = [], time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            line = app.stdout.readline()
            if not line:
                pytest.fail(f"app.py ended before serving (status {app.wait()}):\n{''.join(output)}")
            output.append(line)
            found = URL_LINE.search(line)
            if found:
                break
        else:
            pytest.fail(f"app.py printed no URL in {STARTUP_SECONDS} s:\n{''.join(output)}")
        yield found.group(1)
    finally:
        app.terminate()
        try:
            app.wait(timeout=20)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()


@pytest.fixture
def saint_gall_line(saint_gall_dir):
    return sorted((saint_gall_dir / "data" / "line_images_normalized").glob("*.png"))[0]


def test_demo_reads_a_saint_gall_line_and_writes_a_text(demo_url, saint_gall_line, tmp_path):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the demo extra is not installed (pip install -e '.[demo]')"
    )
    expected = pipeline(TASK, model=str(tmp_path / "checkpoint"))(str(saint_gall_line))
    outside = []

    def local_only(route):
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: Chromium's sandbox refuses to start as root (CI runs as root).
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)  # the page builds itself slowly on a loaded 2-core machine
            page.route("**/*", local_only)
            page.goto(demo_url)

            page.locator("#read-image input[type=file]").set_input_files(str(saint_gall_line))
            page.locator("#read-button").click()
            sync_api.expect(page.locator("#read-info")).to_contain_text("1 line(s), greedy decoding", timeout=60_000)
            assert page.locator("#read-text textarea").input_value() == expected["text"]
            assert float(page.locator("#read-score input").input_value()) == pytest.approx(expected["score"], abs=1e-4)
            sync_api.expect(page.locator("#read-lines img").first).to_be_visible()
            page.screenshot(path=str(tmp_path / "read.png"), full_page=True)

            page.get_by_role("tab", name="Write").click()
            page.locator("#write-text textarea").fill("abc dab zz")
            page.locator("#write-button").click()
            sync_api.expect(page.locator("#write-note")).to_contain_text("cannot write 'z'", timeout=60_000)
            sync_api.expect(page.locator("#write-image img")).to_be_visible()
            assert "seed" in page.locator("#write-note").inner_text()
            page.screenshot(path=str(tmp_path / "write.png"), full_page=True)
        finally:
            browser.close()
    assert outside == [], f"the page fetched from outside this machine: {outside}"
    for name in ("read.png", "write.png"):
        assert os.path.getsize(tmp_path / name) > 10_000
