"""Builders that turn official handwriting-dataset downloads into Hugging Face datasets.

    python -m data_builders saintgall --raw saintgalldb-v1.0 --out saint_gall
    datasets.load_dataset("saint_gall")   # train / validation / test
"""

from .build import BUILDERS, build, get_source
from .card import read_text_rules
from .hub import push_to_hub
from .records import InvalidInputError
from .writer import BuildReport

__all__ = ["BUILDERS", "BuildReport", "InvalidInputError", "build", "get_source", "push_to_hub", "read_text_rules"]
