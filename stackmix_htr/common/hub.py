"""The one rule for telling a Hugging Face Hub repo id from a local folder."""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id


def could_be_hub_id(name: str | os.PathLike) -> bool:
    """Whether a `name` that is no local folder is to be tried on the Hub: it has the form of a repo id
    ("name" or "owner/name") and its owner part is not a folder here. A path like "/data/x" or
    "runs/a/b", or "data/mine" beside a folder "data", is simply a missing folder."""
    name = str(name)
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    owner, _, rest = name.partition("/")
    return not (rest and Path(owner).is_dir())


def is_hub_id(name: str | os.PathLike) -> bool:
    """Whether `name` names a Hub repo rather than something on this machine."""
    return not Path(name).exists() and could_be_hub_id(name)
