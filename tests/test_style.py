"""The code style the repository keeps: ruff's lint rules and its formatting (pyproject.toml)."""

import subprocess
import sys

import pytest
from support import REPO_ROOT


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["check", "format"])
def test_ruff_finds_nothing_to_change(command):
    run = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=REPO_ROOT, capture_output=True, text=True)
    assert run.returncode == 0, f"ruff {' '.join(command)}:\n{run.stdout[-4000:]}{run.stderr[-2000:]}"
