"""ONNX export of a StackMix-HTR model and an ONNX Runtime model that runs it.

`stackmix-onnx export outputs/run/best_cer outputs/run/onnx` (`stackmix_htr.cli.onnx`) writes a folder that
holds `model.onnx` (inputs `pixel_values` (batch, channels, height, width)
float32 and `pixel_mask` (batch, width) int64; outputs `logits` (batch, frames, vocab) and
`output_lengths` (batch,), with batch and width dynamic), the model's `config.json` and the
processor's files, so that

    from transformers import AutoProcessor, pipeline
    from modeling_stackmix_htr.onnx import StackMixHTROnnxModel

    model = StackMixHTROnnxModel.from_pretrained("outputs/run/onnx")
    recognizer = pipeline("handwriting-recognition", model=model, processor=AutoProcessor.from_pretrained("outputs/run/onnx"))

reads lines without PyTorch's model code. Each BiLSTM layer becomes one bidirectional ONNX `LSTM`
node that takes the lines' lengths (`sequence_lens`), so padding never reaches a line.
Needs the `onnx` extra: `pip install "stackmix-htr[onnx]"`.
"""

import copy
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from .configuration_stackmix_htr import StackMixHTRConfig
from .modeling_stackmix_htr import (
    StackMixHTRBiLSTM,
    StackMixHTRForCTC,
    StackMixHTROutput,
    bidirectional_lstm_layer,
    reversal_index,
)

ONNX_FILE = "model.onnx"
INPUT_NAMES = ("pixel_values", "pixel_mask")
OUTPUT_NAMES = ("logits", "output_lengths")
DEFAULT_OPSET = 18


def require_onnx():
    """Raise ImportError naming the extra when ONNX Runtime or onnxscript is missing."""
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f'{error.name} is not installed; install the onnx extra: pip install "stackmix-htr[onnx]"', name=error.name
        ) from error


# --- The BiLSTM layer as one ONNX node ---------------------------------------------------------
# torch.export specialises the time axis of aten.lstm (its decomposition loops over the frames), so
# the layer is exported as an opaque operator whose translation is ONNX's own LSTM with lengths.


@torch.library.custom_op("stackmix_htr::bidirectional_lstm_layer", mutates_args=())
def _bidirectional_lstm_layer_op(
    sequence: torch.Tensor,
    lengths: torch.Tensor,
    w_ih: torch.Tensor,
    w_hh: torch.Tensor,
    b_ih: torch.Tensor,
    b_hh: torch.Tensor,
    w_ih_reverse: torch.Tensor,
    w_hh_reverse: torch.Tensor,
    b_ih_reverse: torch.Tensor,
    b_hh_reverse: torch.Tensor,
) -> torch.Tensor:
    reverse = reversal_index(lengths, sequence.shape[0], sequence.shape[1], sequence.device)
    forward_weights = [w_ih, w_hh, b_ih, b_hh]
    backward_weights = [w_ih_reverse, w_hh_reverse, b_ih_reverse, b_hh_reverse]
    return bidirectional_lstm_layer(sequence, reverse, forward_weights, backward_weights, training=False)


@_bidirectional_lstm_layer_op.register_fake
def _(sequence, lengths, w_ih, w_hh, *weights):
    return sequence.new_empty(sequence.shape[0], sequence.shape[1], 2 * w_hh.shape[1])


def _onnx_bidirectional_lstm_layer(
    sequence, lengths, w_ih, w_hh, b_ih, b_hh, w_ih_reverse, w_hh_reverse, b_ih_reverse, b_hh_reverse
):
    """ONNX translation: LSTM(direction="bidirectional", sequence_lens=lengths) on (T, B, F) input."""
    from onnxscript import opset18 as op

    hidden_size = w_hh.shape[1]

    def gates_iofc(tensor):
        # PyTorch stacks the gates as input, forget, cell, output; ONNX as input, output, forget, cell.
        # Slices of initializers are folded into new initializers when the graph is optimised.
        gates = [op.Slice(tensor, [k * hidden_size], [(k + 1) * hidden_size], [0]) for k in range(4)]
        return op.Concat(gates[0], gates[3], gates[1], gates[2], axis=0)

    def per_direction(forward, backward):
        return op.Concat(op.Unsqueeze(forward, [0]), op.Unsqueeze(backward, [0]), axis=0)

    weights = per_direction(gates_iofc(w_ih), gates_iofc(w_ih_reverse))
    recurrent = per_direction(gates_iofc(w_hh), gates_iofc(w_hh_reverse))
    biases = per_direction(
        op.Concat(gates_iofc(b_ih), gates_iofc(b_hh), axis=0),
        op.Concat(gates_iofc(b_ih_reverse), gates_iofc(b_hh_reverse), axis=0),
    )
    frames_first = op.Transpose(sequence, perm=[1, 0, 2])
    output, _, _ = op.LSTM(
        frames_first,
        weights,
        recurrent,
        biases,
        op.Cast(lengths, to=6),  # int32
        hidden_size=hidden_size,
        direction="bidirectional",
    )
    # (T, directions, B, hidden) -> (B, T, directions * hidden)
    return op.Reshape(op.Transpose(output, perm=[2, 0, 1, 3]), op.Constant(value_ints=[0, 0, -1]))


class _ExportBiLSTM(nn.Module):
    """Runs a `StackMixHTRBiLSTM`'s layers through the exportable operator (inference only)."""

    def __init__(self, lstm: StackMixHTRBiLSTM):
        super().__init__()
        if not lstm.bias:
            raise ValueError("ONNX export needs an LSTM with biases")
        self.lstm = lstm

    def forward(self, sequence: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            lengths = torch.full((sequence.shape[0],), sequence.shape[1], dtype=torch.long, device=sequence.device)
        hidden = sequence
        for layer in range(self.lstm.num_layers):
            hidden = _bidirectional_lstm_layer_op(
                hidden,
                lengths,
                *self.lstm.direction_weights(layer, reverse=False),
                *self.lstm.direction_weights(layer, reverse=True),
            )
        return hidden


class _ExportedRecognizer(nn.Module):
    """(pixel_values, pixel_mask) -> (logits, output_lengths) with the exportable BiLSTM."""

    def __init__(self, model: StackMixHTRForCTC):
        super().__init__()
        self.model = copy.deepcopy(model).float().eval()
        self.model.lstm = _ExportBiLSTM(self.model.lstm)

    def forward(self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor):
        outputs = self.model(pixel_values=pixel_values, pixel_mask=pixel_mask)
        return outputs.logits, outputs.output_lengths


def export_model(model: StackMixHTRForCTC, path: str | os.PathLike, opset: int = DEFAULT_OPSET) -> Path:
    """Write `model` (in eval mode, float32) as a single ONNX file with dynamic batch and width."""
    require_onnx()
    config = model.config
    batch, width = torch.export.Dim("batch"), torch.export.Dim("width", min=8)
    # An example with unequal lines, so that the graph keeps the general (masked) path.
    example_width = 256
    pixel_values = torch.rand(3, config.num_channels, config.image_height, example_width)
    pixel_mask = torch.ones(3, example_width, dtype=torch.long)
    pixel_mask[1, 150:] = 0
    pixel_mask[2, 37:] = 0
    program = torch.onnx.export(
        _ExportedRecognizer(model),
        (pixel_values, pixel_mask),
        dynamo=True,
        input_names=list(INPUT_NAMES),
        output_names=list(OUTPUT_NAMES),
        dynamic_shapes={"pixel_values": {0: batch, 3: width}, "pixel_mask": {0: batch, 1: width}},
        custom_translation_table={
            torch.ops.stackmix_htr.bidirectional_lstm_layer.default: _onnx_bidirectional_lstm_layer
        },
        opset_version=opset,
        external_data=False,
        verbose=False,
    )
    path = Path(path)
    program.save(str(path))
    return path


# --- Running an exported folder ------------------------------------------------------------------


class StackMixHTROnnxModel:
    """A StackMix-HTR model run with ONNX Runtime, called like `StackMixHTRForCTC` for inference.

    `model(pixel_values=..., pixel_mask=...)` returns a `StackMixHTROutput` with float32 `logits` and
    `output_lengths` as CPU torch tensors; `config` is the checkpoint's `StackMixHTRConfig`. It can be
    handed to `pipeline("handwriting-recognition", model=..., processor=...)`; `eval.py --backend onnx`
    uses it.

    Args:
        model_bytes: the serialised ONNX model.
        config: the model's configuration.
        num_threads: ONNX Runtime's intra-op threads (default: its own choice, one per core).
        providers: ONNX Runtime execution providers (default: CPU).
    """

    main_input_name = "pixel_values"

    def __init__(
        self,
        model_bytes: bytes,
        config: StackMixHTRConfig,
        num_threads: int | None = None,
        providers: list[str] | None = None,
    ):
        require_onnx()
        import onnxruntime

        self.config = config
        self.model_bytes = model_bytes
        options = onnxruntime.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            model_bytes, options, providers=providers or ["CPUExecutionProvider"]
        )

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **kwargs) -> "StackMixHTROnnxModel":
        """Load a folder written by `export`, or export a PyTorch checkpoint folder on the fly."""
        folder = Path(path)
        if (folder / ONNX_FILE).is_file():
            config = StackMixHTRConfig.from_pretrained(folder)
            config._name_or_path = str(folder)
            return cls((folder / ONNX_FILE).read_bytes(), config, **kwargs)
        if (folder / "config.json").is_file():
            return cls.from_model(StackMixHTRForCTC.from_pretrained(folder), **kwargs)
        raise FileNotFoundError(f"{folder}: neither {ONNX_FILE} nor a checkpoint's config.json")

    @classmethod
    def from_model(cls, model, **kwargs) -> "StackMixHTROnnxModel":
        """Export a `StackMixHTRForCTC` (through a temporary file) and run it; an ONNX model is returned as is."""
        if isinstance(model, cls):
            return model
        with tempfile.TemporaryDirectory() as staging:
            model_bytes = export_model(model, Path(staging) / ONNX_FILE).read_bytes()
        return cls(model_bytes, model.config, **kwargs)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def to(self, *args, **kwargs) -> "StackMixHTROnnxModel":
        """A no-op: inputs on any device are copied to the host, outputs come back on the CPU."""
        return self

    def eval(self) -> "StackMixHTROnnxModel":
        return self

    def can_generate(self) -> bool:
        return False

    def __call__(
        self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor | None = None, **kwargs
    ) -> StackMixHTROutput:
        if kwargs.get("labels") is not None:
            raise ValueError("the ONNX model runs inference only: it takes no labels and computes no loss")
        pixel_values = torch.as_tensor(pixel_values).detach().to("cpu", torch.float32)
        if pixel_mask is None:
            pixel_mask = torch.ones(pixel_values.shape[0], pixel_values.shape[-1], dtype=torch.long)
        pixel_mask = torch.as_tensor(pixel_mask).detach().to("cpu", torch.long)
        feed = {"pixel_values": pixel_values.contiguous().numpy(), "pixel_mask": pixel_mask.contiguous().numpy()}
        logits, output_lengths = self.session.run(list(OUTPUT_NAMES), feed)
        return StackMixHTROutput(logits=torch.from_numpy(logits), output_lengths=torch.from_numpy(output_lengths))

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """Write `model.onnx` and `config.json` to `save_directory` (the pipeline saves the processor itself)."""
        target = Path(save_directory)
        target.mkdir(parents=True, exist_ok=True)
        staging = target / f".{ONNX_FILE}.tmp"  # renamed into place: a reader never sees half a model
        staging.write_bytes(self.model_bytes)
        os.replace(staging, target / ONNX_FILE)
        self.config.save_pretrained(target)
