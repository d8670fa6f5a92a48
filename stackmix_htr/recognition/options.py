"""How a checkpoint is run and decoded, as the commands take it: run-time and decoding options.

eval.py, transcribe.py and the demo read the same flags (`add_arguments`, `from_args`) and hand the
decoding options to the processor's `batch_decode` (`batch_decode_kwargs`). The language model's
weights are `alpha` (its log-probability's weight) and `beta` (a bonus per word) everywhere, as in
`language_model/attrs.json` and pyctcdecode; `--lm_weight` and `--word_bonus` are their former spellings.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass

import torch

from modeling_stackmix_htr.ctc_decoding import DECODERS
from stackmix_htr.common.errors import InputError

# Former flag spellings of the decoding options (see stackmix_htr.common.flags).
OLD_SPELLINGS = {
    "--lm_weight": "--alpha",
    "--word_bonus": "--beta",
    "--lm_weight_grid": "--alpha_grid",
    "--word_bonus_grid": "--beta_grid",
}


class DecodingError(InputError):
    """Decoding a checkpoint cannot do (no language model, kenlm missing); the message says what to do."""


@dataclass
class RuntimeOptions:
    """Lines per forward pass and the engine that runs the model."""

    batch_size: int | None = None  # None: default_batch_size of the device
    backend: str = "pytorch"  # or "onnx" (ONNX Runtime, on the CPU)

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--batch_size",
            type=int,
            default=None,
            help="lines per forward pass (default: 16 on a GPU, 4 on a CPU, where larger batches of wide lines "
            "run slower per line)",
        )
        parser.add_argument(
            "--backend",
            choices=["pytorch", "onnx"],
            default="pytorch",
            help="run the model with PyTorch, or with ONNX Runtime on the CPU (a checkpoint folder is exported on "
            "the fly; a folder written by `stackmix-onnx export` is used as is)",
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace, parser: argparse.ArgumentParser) -> "RuntimeOptions":
        if args.batch_size is not None and args.batch_size < 1:
            parser.error("--batch_size must be at least 1")
        return cls(args.batch_size, args.backend)

    def batch_size_on(self, device: str | torch.device) -> int:
        """The lines per forward pass on `device`: as given, else 4 on a CPU and 16 on a GPU."""
        if self.batch_size is not None:
            return self.batch_size
        return 4 if torch.device(device).type == "cpu" else 16


@dataclass
class DecodingOptions:
    """CTC decoding asked for on the command line; None keeps the checkpoint's own setting."""

    decoder: str | None = None
    beam_width: int | None = None
    alpha: float | None = None
    beta: float | None = None

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--decoder", choices=DECODERS, default=None, help="CTC decoding; the checkpoint's own when omitted"
        )
        parser.add_argument("--beam_width", type=int, default=None, help="beams kept per frame in beam search")
        parser.add_argument(
            "--alpha", type=float, default=None, help="language-model weight in beam search (formerly --lm_weight)"
        )
        parser.add_argument(
            "--beta", type=float, default=None, help="bonus per word in beam search (formerly --word_bonus)"
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace, parser: argparse.ArgumentParser) -> "DecodingOptions":
        if args.beam_width is not None and args.beam_width < 1:
            parser.error("--beam_width must be at least 1")
        return cls(args.decoder, args.beam_width, args.alpha, args.beta)

    def batch_decode_kwargs(self) -> dict:
        """The processor's `batch_decode` keyword arguments these options set."""
        return {name: value for name, value in asdict(self).items() if value is not None}

    def check(self, checkpoint, tune: bool = False) -> None:
        """Fail before any work on decoding `checkpoint` cannot do; load its language model when beam search
        uses it. `tune`: its weights are about to be tuned (which needs a language model)."""
        processor = checkpoint.processor
        build_hint = f"build one with stackmix-lm build --model {checkpoint.path} --corpus FILE"
        beam = tune or (self.decoder or processor.decoder) == "beam"
        if tune and not processor.has_language_model:
            raise DecodingError(f"checkpoint {checkpoint.path}: --tune_lm needs a language model; {build_hint}")
        if (self.alpha is not None or self.beta is not None) and not (beam and processor.has_language_model):
            raise DecodingError(
                f"checkpoint {checkpoint.path}: --alpha and --beta weigh a language model in beam search; "
                f"use --decoder beam with a checkpoint that has one ({build_hint})"
            )
        if beam and processor.has_language_model:
            try:
                processor.language_model  # loads it, or names the missing extra
            except ImportError as error:
                raise DecodingError(f"checkpoint {checkpoint.path}: {error}") from error

    def summary(self, processor) -> dict:
        """How a checkpoint decodes with these options: decoder, beam width and the language model's weights."""
        decoder = self.decoder or processor.decoder
        if decoder == "greedy":
            return {"decoder": "greedy"}
        summary = {
            "decoder": "beam",
            "beam_width": self.beam_width or processor.beam_width,
            "language_model": processor.has_language_model,
        }
        if processor.has_language_model:
            summary.update(
                alpha=processor.lm_settings.alpha if self.alpha is None else self.alpha,
                beta=processor.lm_settings.beta if self.beta is None else self.beta,
            )
        return summary
