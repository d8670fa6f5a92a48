"""Shared fixtures: the real Saint Gall database when present, skipped with a reason otherwise."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAINT_GALL_DIR = REPO_ROOT.parent / "shared" / "datasets" / "saintgalldb-v1.0"
LATIN_CORPUS = REPO_ROOT.parent / "shared" / "corpora" / "latin_ecclesiastical.txt"


def _require(path: Path) -> Path:
    if path.exists():
        return path
    if os.environ.get("STACKMIX_REQUIRE_REAL_DATA"):
        pytest.fail(f"{path} is required in CI but absent")
    pytest.skip(f"real data not available: {path} is absent (it is not shipped with the project)")


@pytest.fixture(scope="session")
def saint_gall_dir() -> Path:
    """The raw Saint Gall database (research and teaching licence; see its README.txt)."""
    return _require(SAINT_GALL_DIR)


@pytest.fixture(scope="session")
def latin_corpus() -> Path:
    return _require(LATIN_CORPUS)
