"""Publishing a built folder on the Hugging Face Hub, unchanged (the folder is already in Hub layout)."""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import HfApi


def push_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload dataset built with data_builders",
) -> str:
    """Create the dataset repo if needed and upload README.md + data/ shards; return the commit URL."""
    folder = Path(folder)
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    commit = api.upload_folder(
        folder_path=folder,
        repo_id=repo_id,
        repo_type="dataset",
        allow_patterns=["README.md", "data/*.parquet"],
        commit_message=commit_message,
    )
    return str(getattr(commit, "commit_url", commit))
