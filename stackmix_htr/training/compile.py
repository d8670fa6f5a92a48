"""`torch.compile` for training: the convolutional backbone, one graph per batch shape.

Only the backbone is compiled: Dynamo does not trace LSTM modules (it would break the graph there
anyway), and the head and the CTC loss are small. Its graphs are static: with dynamic widths,
the backward graph of the convolutions still specialises on the width (layout checks of the
gradients), so instead the batches' widths are rounded up to `WIDTH_BUCKET` columns (the pixel
mask keeps the result exact) and each (batch size, width bucket) shape compiles once.
"""

import shutil
import sysconfig
from pathlib import Path

import torch

WIDTH_BUCKET = 64
# Distinct shapes a run may compile: width buckets x {full, last short batch}.
RECOMPILE_LIMIT = 256


def check_compile_support(device: torch.device) -> None:
    """Fail early, with the remedy, where Inductor cannot build kernels (it needs a C++ compiler and
    Python's headers on a CPU, Triton on a GPU)."""
    if device.type == "cpu":
        compiler = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
        if compiler is None:
            raise RuntimeError("--torch_compile on a CPU needs a C++ compiler (g++ or clang++) on PATH")
        include = sysconfig.get_paths().get("include")
        if not include or not (Path(include) / "Python.h").is_file():
            raise RuntimeError(
                f"--torch_compile on a CPU needs Python's headers (Python.h in {include}); install python3-dev"
            )
    elif device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError as error:
            raise RuntimeError("--torch_compile on a GPU needs Triton (pip install triton)") from error


def compile_backbone(model: torch.nn.Module, device: torch.device) -> None:
    """Compile `model.backbone` in place for training steps (static shapes, see the module docstring).

    In eval mode the backbone runs eagerly: evaluation sees many widths once per epoch, where
    compiling each would cost more than it saves. Parameter names are unchanged.
    """
    check_compile_support(device)
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    torch._dynamo.config.accumulated_recompile_limit = max(
        torch._dynamo.config.accumulated_recompile_limit, RECOMPILE_LIMIT
    )
    backbone = model.backbone
    eager, compiled = backbone.forward, torch.compile(backbone.forward, dynamic=False)
    backbone.forward = lambda *inputs: compiled(*inputs) if backbone.training else eager(*inputs)
