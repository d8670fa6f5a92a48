"""The shape of the tree, read from its imports (ast): no import circle; the model package imports nothing
else of the project (checkpoints carry it alone); `data_builders` is used only by the commands that build
or load datasets; nothing edits sys.path."""

import ast
from pathlib import Path

import pytest
from support import REPO_ROOT

PACKAGES = ("modeling_stackmix_htr", "stackmix_htr", "data_builders", "augmentations", "experiments", "bench")
FRONT_DOORS = ("train_accelerate", "eval", "transcribe", "app")
# Who may import data_builders: the front doors, StackMix (it builds banks and char masks from datasets), the
# augmentation preview command, the experiments and benchmarks (they build and load datasets).
DATASET_USERS = (
    *FRONT_DOORS,
    "stackmix_htr.cli",
    "augmentations.stackmix",
    "augmentations.preview",
    "experiments",
    "bench",
)


def project_modules() -> dict[str, Path]:
    """Module name -> file of every Python module of the project (packages' __init__ as the package)."""
    modules = {name: REPO_ROOT / f"{name}.py" for name in FRONT_DOORS}
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = project_modules()


def imported_modules(name: str, path: Path, top_level_only: bool) -> set[str]:
    """The project modules `name` imports (with the packages an absolute import initialises on the way)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else ast.walk(tree)
    targets = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets.add(base)
            targets |= {f"{base}.{alias.name}" for alias in node.names}
    found = set()
    for target in targets:
        parts = target.split(".")
        for depth in range(1, len(parts) + 1):
            module = ".".join(parts[:depth])
            # A package the importer belongs to is being initialised already: no edge to its __init__.
            if module in MODULES and module != name and not name.startswith(module + "."):
                found.add(module)
    return found


def test_no_import_circle():
    graph = {name: imported_modules(name, path, top_level_only=True) for name, path in MODULES.items()}
    state, stack, circles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                circles.append(" -> ".join(stack[stack.index(target) :] + [target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_the_model_package_imports_nothing_else_of_the_project():
    offenders = {
        name: sorted(
            target
            for target in imported_modules(name, path, top_level_only=False)
            if not target.startswith("modeling_stackmix_htr")
        )
        for name, path in MODULES.items()
        if name.startswith("modeling_stackmix_htr")
    }
    assert not {name: targets for name, targets in offenders.items() if targets}
    configuration = MODULES["modeling_stackmix_htr.configuration_stackmix_htr"]
    assert not imported_modules("modeling_stackmix_htr.configuration_stackmix_htr", configuration, False)


def test_only_the_commands_that_build_or_load_datasets_import_data_builders():
    offenders = sorted(
        name
        for name, path in MODULES.items()
        if not name.startswith("data_builders")
        and not any(name == user or name.startswith(user + ".") for user in DATASET_USERS)
        and any(target.startswith("data_builders") for target in imported_modules(name, path, top_level_only=False))
    )
    assert not offenders, f"modules importing data_builders: {offenders}"


@pytest.mark.parametrize("folder", [*PACKAGES, "tests"])
def test_nothing_edits_sys_path(folder):
    edits = []
    for path in sorted((REPO_ROOT / folder).rglob("*.py")) + (
        [REPO_ROOT / f"{n}.py" for n in FRONT_DOORS] if folder == "tests" else []
    ):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", None) == "sys":
                edits.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert not edits, f"sys.path used at {edits}"
