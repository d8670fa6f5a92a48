"""Exporting a checkpoint folder to an ONNX folder (model.onnx, config, processor), atomically."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoProcessor

from modeling_stackmix_htr import StackMixHTRForCTC
from modeling_stackmix_htr.onnx import DEFAULT_OPSET, ONNX_FILE, export_model, require_onnx
from stackmix_htr.common.atomic import atomic_folder, check_output_folder
from stackmix_htr.common.errors import InputError


class OnnxExportError(InputError):
    """A checkpoint or output folder that cannot be exported; the message says why."""


def export_checkpoint(checkpoint: str, output_dir: str, opset: int = DEFAULT_OPSET, overwrite: bool = False) -> Path:
    """Export a `save_pretrained` checkpoint folder to `output_dir`; an existing `output_dir` is replaced
    only with `overwrite` and only when it is an earlier export (never the checkpoint itself)."""
    try:
        require_onnx()
    except ImportError as error:
        raise OnnxExportError(str(error)) from error
    source, target = Path(checkpoint), Path(output_dir)
    if not (source / "config.json").is_file():
        raise OnnxExportError(f"{source}: not a checkpoint folder (no config.json)")
    if source.resolve() == target.resolve() or source.resolve().is_relative_to(target.resolve()):
        raise OnnxExportError(f"output_dir {target} is or holds the checkpoint {source}; choose another output_dir")
    check_output_folder(target, "output_dir", overwrite=overwrite, kind=("an ONNX export", (ONNX_FILE, "config.json")))
    try:
        model = StackMixHTRForCTC.from_pretrained(source)
        processor = AutoProcessor.from_pretrained(source)
    except Exception as error:  # transformers and safetensors raise many types
        raise OnnxExportError(f"{source}: cannot be loaded: {type(error).__name__}: {error}") from error
    with atomic_folder(target) as staging:
        export_model(model, staging / ONNX_FILE, opset=opset)
        model.config.save_pretrained(staging)
        processor.save_pretrained(staging)
    return target
