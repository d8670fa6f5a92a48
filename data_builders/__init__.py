"""Builders that turn official handwriting-dataset downloads into Hugging Face datasets.

python -m data_builders saintgall --raw saintgalldb-v1.0 --output_dir saint_gall
load_dataset_folder_or_hub("saint_gall")   # train / validation / test, as the folder is now
"""

from stackmix_htr.common.errors import InputError

from .build import BUILDERS, build, get_source
from .card import read_text_rules
from .hub import push_to_hub
from .loading import load_dataset_folder_or_hub
from .records import BuildReport, InvalidInputError

__all__ = [
    "BUILDERS",
    "BuildReport",
    "InputError",
    "InvalidInputError",
    "build",
    "get_source",
    "load_dataset_folder_or_hub",
    "push_to_hub",
    "read_text_rules",
]
