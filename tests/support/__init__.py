"""Helpers the tests share: fixtures on disk (pages, raw datasets, checkpoints, banks) and runners."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
