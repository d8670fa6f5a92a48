"""The model package is what a checkpoint carries: every module of it imports with the rest of the
project out of reach."""

import shutil

from support import REPO_ROOT
from support.isolation import PROJECT_PACKAGES, run_without

CHILD = """
import importlib
import pkgutil
import sys

import modeling_stackmix_htr

assert modeling_stackmix_htr.__file__.startswith(sys.argv[1]), modeling_stackmix_htr.__file__
names = [info.name for info in pkgutil.iter_modules(modeling_stackmix_htr.__path__)]
for name in names:
    importlib.import_module(f"modeling_stackmix_htr.{name}")
print("imported", len(names), "modules:", ", ".join(sorted(names)))
"""


def test_every_module_of_the_model_package_imports_without_the_rest_of_the_project(tmp_path):
    copy = shutil.copytree(
        REPO_ROOT / "modeling_stackmix_htr",
        tmp_path / "modeling_stackmix_htr",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    others = tuple(name for name in PROJECT_PACKAGES if name != "modeling_stackmix_htr")
    completed = run_without(others, CHILD, copy, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "pipeline_stackmix_htr" in completed.stdout and "onnx" in completed.stdout
