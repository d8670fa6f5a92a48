"""Running Python code in a child process where some of the project's packages cannot be imported."""

import os
import subprocess
import sys
import textwrap

# Every package of the project, installed or found beside the checkout.
PROJECT_PACKAGES = ("modeling_stackmix_htr", "stackmix_htr", "data_builders", "augmentations", "experiments", "bench")


def blocking_prelude(blocked: tuple[str, ...]) -> str:
    """Python source that makes importing any of `blocked` (or their submodules) raise ImportError."""
    return textwrap.dedent(
        f"""
        import importlib.abc
        import sys

        class BlockPackages(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {blocked!r}:
                    raise ImportError(f"{{name}} is blocked in this process")

        sys.meta_path.insert(0, BlockPackages())
        """
    )


def run_without(
    blocked: tuple[str, ...], code: str, *args, cwd, env_extra=None, timeout=300
) -> subprocess.CompletedProcess:
    """Run `code` (with `args` in sys.argv[1:]) in a child process that cannot import `blocked`."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    env.pop("PYTHONPATH", None)
    source = blocking_prelude(blocked) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", source, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
