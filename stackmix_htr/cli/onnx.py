"""stackmix-onnx: export a checkpoint folder for ONNX Runtime.

stackmix-onnx export outputs/run/best_cer outputs/run/onnx
"""

import argparse
import sys

from modeling_stackmix_htr.onnx import DEFAULT_OPSET, ONNX_FILE
from stackmix_htr.common.errors import run_command
from stackmix_htr.recognition.onnx_export import export_checkpoint


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="stackmix-onnx", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="export a checkpoint folder to an ONNX folder")
    export.add_argument("checkpoint", help="a save_pretrained checkpoint folder (e.g. outputs/run/best_cer)")
    export.add_argument("output_dir", help="the folder to write (model.onnx, config.json, processor files)")
    export.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset version")
    export.add_argument(
        "--overwrite", action="store_true", help="replace output_dir if it exists and is an earlier ONNX export"
    )
    args = parser.parse_args(argv)
    target = export_checkpoint(args.checkpoint, args.output_dir, opset=args.opset, overwrite=args.overwrite)
    print(f"wrote {target / ONNX_FILE}")


def run() -> int:
    """The console script."""
    return run_command(main)


if __name__ == "__main__":
    sys.exit(run())
