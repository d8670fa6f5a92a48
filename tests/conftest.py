"""Shared fixtures: the real data when present (skipped with a reason otherwise, failed in CI), a small
StackMix bank, one torch thread. The helpers that make things on disk are in `support/`."""

import os
from pathlib import Path

import pytest
from support import REPO_ROOT
from support.banks import make_bank

# ../shared beside the checkout; STACKMIX_SHARED_DIR points elsewhere (e.g. from a git worktree).
SHARED_DIR = Path(os.environ.get("STACKMIX_SHARED_DIR") or REPO_ROOT.parent / "shared")
SAINT_GALL_DIR = SHARED_DIR / "datasets" / "saintgalldb-v1.0"
LATIN_CORPUS = SHARED_DIR / "corpora" / "latin_ecclesiastical.txt"
REAL_ALTO_DIR = SHARED_DIR / "datasets" / "lectaurep-alto-sample"


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


@pytest.fixture(scope="session")
def real_alto_dir() -> Path:
    """Five LECTAUREP pages with eScriptorium ALTO v4 (CC BY 4.0; see its README.md)."""
    return _require(REAL_ALTO_DIR)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Inference tests on one torch thread: on a busy 2-core machine, two threads of small
    forward passes wait on each other far longer than they compute."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def bank_dir(tmp_path_factory) -> Path:
    """A StackMix bank of glyph lines (see `support.banks`)."""
    return make_bank(tmp_path_factory.mktemp("bank"), ["abc abd", "bad cab", "dab", "a cd", "cc dd aa"])
