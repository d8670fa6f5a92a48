"""StackMix's ResNet34-BiLSTM-CTC line recognizer as a transformers model."""

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_stackmix_htr import StackMixHTRConfig
from .pipeline_stackmix_htr import custom_pipelines_entry


@dataclass
class StackMixHTROutput(ModelOutput):
    """
    Output of [`StackMixHTRForCTC`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): float32 CTC loss, when labels are given.
        logits (`torch.FloatTensor` of shape `(batch, frames, vocab_size)`): class scores per frame
            (before softmax); frames = ceil(width / 8).
        output_lengths (`torch.LongTensor` of shape `(batch,)`): valid frames per line,
            ceil(valid_width / 8); every frame when no pixel mask is given.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    output_lengths: torch.LongTensor | None = None


def _halved(lengths: torch.Tensor) -> torch.Tensor:
    """Valid columns after a stride-2 layer with kernel 3 and padding 1: ceil(length / 2)."""
    return torch.div(lengths + 1, 2, rounding_mode="floor")


def _zero_first_padding_column_(hidden: torch.Tensor, lengths: torch.Tensor) -> None:
    """In place: zero column `lengths[i]` of line i (nothing for a line that fills the width)."""
    width = hidden.shape[-1]
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    columns = lengths.clamp(max=width - 1)
    keep = (lengths >= width).to(hidden.dtype)[:, None, None]  # 1: that column is the line's own
    hidden[rows, :, :, columns] = hidden[rows, :, :, columns] * keep


class _ZeroFirstPaddingColumn(torch.autograd.Function):
    """`_zero_first_padding_column_` with its gradient: the zeroed entries get none."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _zero_first_padding_column_(hidden, lengths)
        ctx.mark_dirty(hidden)
        ctx.save_for_backward(lengths)
        return hidden

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (lengths,) = ctx.saved_tensors
        grad = grad.clone()
        _zero_first_padding_column_(grad, lengths)
        return grad, None


class _ReLUZeroFirstPaddingColumn(torch.autograd.Function):
    """In-place ReLU, then `_zero_first_padding_column_`, with their gradient in one pass: ReLU's
    gradient is a new tensor, so its zeroed entries are cleared in place, without a copy."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        hidden.relu_()
        _zero_first_padding_column_(hidden, lengths)
        ctx.mark_dirty(hidden)
        ctx.save_for_backward(hidden, lengths)
        return hidden

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        output, lengths = ctx.saved_tensors
        grad = torch.ops.aten.threshold_backward(grad, output, 0)
        _zero_first_padding_column_(grad, lengths)
        return grad, None


def _relu_zero_padding(hidden: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """In-place ReLU then `_zero_padding` (the zeros survive a ReLU, so the order is free): the form
    every zeroing before a ReLU takes, which saves the gradient copy of `_ZeroFirstPaddingColumn`."""
    if lengths is not None and torch.is_grad_enabled() and hidden.requires_grad and not torch.compiler.is_exporting():
        return _ReLUZeroFirstPaddingColumn.apply(hidden, lengths)
    return _zero_padding(torch.relu_(hidden), lengths)


def _zero_padding(hidden: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Make the next 3x3 convolution or max-pool see, right of each line, the zeros its own zero
    padding would show without a wider neighbour.

    Those layers read at most one column beyond a line's last valid one, so only that column is
    zeroed (in place, a few values per line instead of a pass over the whole tensor); the columns
    further right hold values no valid output ever reads. Only tensors that feed such a layer need
    it, each where it is not saved for any backward: after a batch-norm together with its ReLU
    (`_relu_zero_padding`), and after the max-pool.
    """
    if lengths is None:
        return hidden
    if torch.compiler.is_exporting():
        # An exported graph writes nothing in place, and ONNX Runtime runs a product with the
        # mask of valid columns faster than the scatter an in-place write becomes.
        columns = torch.arange(hidden.shape[-1], device=hidden.device)
        return hidden * (columns[None, :] < lengths[:, None])[:, None, None, :].to(hidden.dtype)
    if torch.is_grad_enabled() and hidden.requires_grad:
        return _ZeroFirstPaddingColumn.apply(hidden, lengths)
    _zero_first_padding_column_(hidden, lengths)
    return hidden


class StackMixHTRBasicBlock(nn.Module):
    """ResNet BasicBlock (two 3x3 convolutions and a residual), column-mask aware."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """hidden: (B, C_in, H, W) -> (B, C_out, H / stride, W / stride); lengths: the output's valid columns."""
        identity = hidden if self.downsample is None else self.downsample(hidden)
        out = _relu_zero_padding(self.bn1(self.conv1(hidden)), lengths)
        out = self.bn2(self.conv2(out)) + identity
        return _relu_zero_padding(out, lengths)


class StackMixHTRStage(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_blocks: int, stride: int):
        super().__init__()
        self.stride = stride
        self.blocks = nn.ModuleList(
            StackMixHTRBasicBlock(in_channels if i == 0 else out_channels, out_channels, stride if i == 0 else 1)
            for i in range(num_blocks)
        )

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.stride == 2 and lengths is not None:
            lengths = _halved(lengths)
        for block in self.blocks:
            hidden = block(hidden, lengths)
        return hidden, lengths


class StackMixHTRBackbone(nn.Module):
    """ResNet34 stem and stages 1-3 with a stride-1 stem: (B, C, H, W) -> (B, 256, H/8, W/8).

    Parameter names follow torchvision's ResNet (conv1, bn1, layer1..3) apart from the
    blocks' container, which keeps ImageNet weights easy to map.
    """

    def __init__(self, config: StackMixHTRConfig):
        super().__init__()
        channels = config.stage_channels
        self.conv1 = nn.Conv2d(
            config.num_channels,
            channels[0],
            config.stem_kernel_size,
            stride=1,
            padding=config.stem_kernel_size // 2,
            bias=False,
        )
        self.bn1 = nn.BatchNorm2d(channels[0])
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = StackMixHTRStage(channels[0], channels[0], config.stage_blocks[0], stride=1)
        self.layer2 = StackMixHTRStage(channels[0], channels[1], config.stage_blocks[1], stride=2)
        self.layer3 = StackMixHTRStage(channels[1], channels[2], config.stage_blocks[2], stride=2)

    def forward(
        self, pixel_values: torch.Tensor, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """lengths: valid pixel columns (B,) or None; returns features and valid frames."""
        hidden = self.bn1(self.conv1(pixel_values))
        # After ReLU every value is >= 0, so the max-pool's -inf border and the zeroed
        # padding give the same maximum at the right edge of a line.
        hidden = self.maxpool(_relu_zero_padding(hidden, lengths))
        if lengths is not None:
            lengths = _halved(lengths)
            hidden = _zero_padding(hidden, lengths)
        for stage in (self.layer1, self.layer2, self.layer3):
            hidden, lengths = stage(hidden, lengths)
        return hidden, lengths


def reversal_index(lengths: torch.Tensor | None, batch: int, frames: int, device: torch.device) -> torch.Tensor:
    """(B, T) time index that reverses each line's first `length` frames and leaves its padding frames in
    place (all frames without lengths); applying it twice gives the identity."""
    steps = torch.arange(frames, device=device)
    if lengths is None:
        return steps.flip(0).expand(batch, frames)
    last = lengths[:, None] - 1
    return torch.where(steps[None, :] <= last, last - steps[None, :], steps[None, :])


def bidirectional_lstm_layer(
    sequence: torch.Tensor,
    reverse: torch.Tensor,
    forward_weights: list[torch.Tensor],
    backward_weights: list[torch.Tensor],
    training: bool,
) -> torch.Tensor:
    """One bidirectional LSTM layer over a right-padded batch: (B, T, F) -> (B, T, 2 * hidden).

    The backward direction reads every line's valid frames reversed (`reverse` from `reversal_index`),
    so in both directions a line's padding frames come after its own frames and cannot reach them.
    The weights are `[w_ih, w_hh, b_ih, b_hh]` (or without the biases) as in `nn.LSTM`.
    """

    def one_direction(inputs: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
        state = inputs.new_zeros(1, inputs.shape[0], weights[1].shape[1])
        output, _, _ = torch.lstm(inputs, (state, state), weights, len(weights) == 4, 1, 0.0, training, False, True)
        return output

    hidden_size = forward_weights[1].shape[1]
    forward = one_direction(sequence, forward_weights)
    backward = one_direction(
        sequence.gather(1, reverse[:, :, None].expand(-1, -1, sequence.shape[-1])), backward_weights
    )
    backward = backward.gather(1, reverse[:, :, None].expand(-1, -1, hidden_size))
    return torch.cat([forward, backward], dim=-1)


class StackMixHTRBiLSTM(nn.LSTM):
    """Batch-first bidirectional `nn.LSTM` (same parameters and names) that takes each line's length.

    Each layer runs as two unidirectional passes over the padded batch (`bidirectional_lstm_layer`),
    which makes a line's outputs exactly those of the line alone without packing: the lengths stay
    on the device (no host synchronisation) and the padded kernels of oneDNN (CPU) and cuDNN (GPU)
    apply, with bf16 autocast. Outputs at padding frames are unspecified.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__(
            input_size, hidden_size, num_layers=num_layers, dropout=dropout, bidirectional=True, batch_first=True
        )

    def direction_weights(self, layer: int, reverse: bool) -> list[torch.Tensor]:
        """[w_ih, w_hh, b_ih, b_hh] (without biases when `bias` is False) of one layer and direction."""
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if self.bias else ("weight_ih", "weight_hh")
        suffix = "_reverse" if reverse else ""
        return [getattr(self, f"{name}_l{layer}{suffix}") for name in names]

    def flatten_parameters(self) -> None:
        """Keep each layer-direction's weights contiguous in a storage of their own (w_ih, w_hh, b_ih,
        b_hh), the layout cuDNN reads without copying for the one-layer, one-direction calls made here;
        `nn.LSTM`'s own flattening puts all layers in one buffer, which those calls cannot use."""
        if not all(isinstance(weight, torch.Tensor) and weight.is_cuda for weight in self._flat_weights):
            return
        with torch.no_grad():
            for layer in range(self.num_layers):
                for reverse in (False, True):
                    group = self.direction_weights(layer, reverse)
                    buffer = torch.cat([weight.reshape(-1) for weight in group])
                    offset = 0
                    for weight in group:
                        weight.data = buffer[offset : offset + weight.numel()].view_as(weight)
                        offset += weight.numel()

    def forward(self, sequence: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """sequence: (B, T, input_size); lengths: valid frames (B,), or None when all are -> (B, T, 2 * hidden_size)."""
        reverse = reversal_index(lengths, sequence.shape[0], sequence.shape[1], sequence.device)
        hidden = sequence
        for layer in range(self.num_layers):
            if layer:
                hidden = nn.functional.dropout(hidden, self.dropout, self.training)
            hidden = bidirectional_lstm_layer(
                hidden,
                reverse,
                self.direction_weights(layer, reverse=False),
                self.direction_weights(layer, reverse=True),
                self.training,
            )
        return hidden


def _give_weights_the_usual_mode(folder: Path) -> None:
    """transformers writes the weights through an owner-only temporary file: give them the mode a
    plain `open()` gives (0666 less the umask), so other accounts can load the checkpoint too."""
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.glob("model*.safetensors*"):
        os.chmod(path, 0o666 & ~umask)


def _check_weights_readable(folder: Path) -> None:
    """Name an unreadable weights file instead of transformers' "No such file or directory"."""
    for path in folder.glob("model*.safetensors*"):
        if not os.access(path, os.R_OK):
            raise PermissionError(
                f"{path}: this account may not read it (mode {stat.filemode(path.stat().st_mode)}); ask its owner "
                f"to run `chmod a+r {path}`"
            )


class StackMixHTRPreTrainedModel(PreTrainedModel):
    config_class = StackMixHTRConfig
    base_model_prefix = "stackmix_htr"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = False

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        if isinstance(pretrained_model_name_or_path, (str, os.PathLike)) and os.path.isdir(
            pretrained_model_name_or_path
        ):
            _check_weights_readable(Path(pretrained_model_name_or_path))
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        else:
            super()._init_weights(module)


class StackMixHTRForCTC(StackMixHTRPreTrainedModel):
    """
    ResNet34-BiLSTM-CTC line recognizer ("StackMix and Blot Augmentations for Handwritten
    Text Recognition", Shonenkov et al., 2021).

    Lines of different widths can share a batch: with a `pixel_mask`, the first padding
    column right of each line is zeroed wherever a 3x3 convolution or the max-pool is about
    to read it (the smallest set of places that makes a line's right edge see what its own
    zero padding would show) and the BiLSTM takes each line's length, so a line's logits
    over its valid frames and its loss do not depend on how far it was padded (exactly so
    in eval mode; in train mode batch-norm statistics are batch-wide, as usual, and include
    the padding columns: batching lines of similar width keeps that small).

    Unlike the paper, the time axis is not pooled to 256 frames: it keeps one frame per
    8 columns, which is the same for the paper's 2048-pixel width and lets lines keep
    their own length.
    """

    def __init__(self, config: StackMixHTRConfig):
        super().__init__(config)
        self.backbone = StackMixHTRBackbone(config)
        self.feature_pool = nn.AdaptiveAvgPool1d(config.sequence_features)
        self.lstm = StackMixHTRBiLSTM(
            config.sequence_features,
            config.lstm_hidden_size,
            num_layers=config.lstm_num_layers,
            dropout=config.lstm_dropout if config.lstm_num_layers > 1 else 0.0,
        )
        self.head = nn.Sequential(
            nn.Linear(2 * config.lstm_hidden_size, config.head_hidden_size),
            nn.GELU(),
            nn.Dropout(config.head_dropout),
            nn.Linear(config.head_hidden_size, config.vocab_size),
        )
        self.post_init()
        # A model loaded with from_pretrained is built on the meta device and then gets
        # its trained weights: the ImageNet initialisation is for fresh models only.
        if config.pretrained_resnet34_path and self.backbone.conv1.weight.device.type != "meta":
            self.load_resnet34_weights(config.pretrained_resnet34_path)

    def load_resnet34_weights(self, path: str | Path) -> None:
        """Initialise the stem and stages 1-3 from a torchvision-format ImageNet ResNet34 state dict.

        `path` is a local `.safetensors` file or a `.pth`/`.pt` file (read with
        `weights_only=True`). The torchvision layer4 and fc entries are ignored. For a
        grayscale model the stem's RGB kernels are summed over the input channels.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"pretrained ResNet34 weights not found: {path}")
        if path.suffix == ".safetensors":
            source = load_file(str(path))
        else:
            source = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(source, dict):
                raise ValueError(f"{path} does not hold a state dict (got {type(source).__name__})")
        target = self.backbone.state_dict()
        renamed = {}
        for key, value in source.items():
            parts = key.split(".")
            if parts[0] in ("layer1", "layer2", "layer3"):
                # torchvision: layerN.<block>.<param>; here: layerN.blocks.<block>.<param>
                renamed[".".join([parts[0], "blocks", *parts[1:]])] = value
            elif parts[0] in ("conv1", "bn1"):
                renamed[key] = value
        if self.config.num_channels == 1 and "conv1.weight" in renamed and renamed["conv1.weight"].shape[1] == 3:
            renamed["conv1.weight"] = renamed["conv1.weight"].sum(dim=1, keepdim=True)
        missing = sorted(set(target) - set(renamed))
        if missing:
            raise ValueError(
                f"{path} is not a torchvision ResNet34 state dict for this config: missing {len(missing)} keys, "
                f"e.g. {', '.join(missing[:5])}"
            )
        mismatched = [
            f"{key} {tuple(renamed[key].shape)} vs {tuple(target[key].shape)}"
            for key in target
            if renamed[key].shape != target[key].shape
        ]
        if mismatched:
            raise ValueError(f"{path} has tensors of the wrong shape: {'; '.join(mismatched[:5])}")
        self.backbone.load_state_dict({key: renamed[key] for key in target})

    def _ctc_loss(self, logits: torch.Tensor, labels: torch.Tensor, output_lengths: torch.Tensor) -> torch.Tensor:
        """CTC over float32 log-probabilities (no bf16/fp16 CTC kernels exist); -100 marks label padding."""
        labels = labels.to(logits.device)
        label_mask = labels != -100
        log_probs = nn.functional.log_softmax(logits, dim=-1, dtype=torch.float32).transpose(0, 1)
        # cuDNN's CTC needs all input lengths equal to T and labels on the CPU: use the native kernel.
        with torch.backends.cudnn.flags(enabled=False):
            return nn.functional.ctc_loss(
                log_probs,
                labels.masked_select(label_mask),
                output_lengths,
                label_mask.sum(-1),
                blank=self.config.pad_token_id,
                reduction=self.config.ctc_loss_reduction,
                zero_infinity=self.config.ctc_zero_infinity,
            )

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`, with an `AutoModel` entry added to the config's `auto_map`
        so `AutoModel.from_pretrained(folder, trust_remote_code=True)` finds this class too, and the
        "handwriting-recognition" pipeline in `custom_pipelines` (its code is copied beside the
        weights), so `pipeline("handwriting-recognition", model=folder, trust_remote_code=True)`
        works without the package."""
        auto_map = dict(getattr(self.config, "auto_map", None) or {})
        auto_map.setdefault("AutoModel", f"{Path(__file__).stem}.{type(self).__name__}")
        self.config.auto_map = auto_map
        previous = getattr(self.config, "custom_pipelines", None)
        self.config.custom_pipelines = custom_pipelines_entry()
        try:
            super().save_pretrained(save_directory, *args, **kwargs)
            _give_weights_the_usual_mode(Path(save_directory))
        finally:
            # In memory the model keeps serving the installed pipeline (see StackMixHTRConfig).
            if previous is None:
                del self.config.custom_pipelines
            else:
                self.config.custom_pipelines = previous

    def forward(
        self,
        pixel_values: torch.FloatTensor,
        pixel_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> StackMixHTROutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, channels, height, width)`): lines in [0, 1],
                left-aligned and padded on the right (see `StackMixHTRImageProcessor`).
            pixel_mask (`torch.Tensor` of shape `(batch, width)`, *optional*): 1 for real image columns,
                0 for padding; the real columns of a line come first.
            labels (`torch.LongTensor` of shape `(batch, label_length)`, *optional*): target ids padded
                with -100.

        Returns:
            [`StackMixHTROutput`] with logits `(batch, ceil(width / 8), vocab_size)`.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        pixel_lengths = None
        if pixel_mask is not None:
            pixel_lengths = pixel_mask.to(torch.long).sum(dim=-1)
            pixel_values = pixel_values * (pixel_mask[:, None, None, :] != 0).to(pixel_values.dtype)

        features, frame_lengths = self.backbone(pixel_values, pixel_lengths)
        batch, channels, height, frames = features.shape
        # Each column's channels x height features, averaged down to sequence_features.
        sequence = self.feature_pool(features.permute(0, 3, 1, 2).reshape(batch, frames, channels * height))

        if frame_lengths is None:
            output_lengths = torch.full((batch,), frames, dtype=torch.long, device=sequence.device)
        else:
            output_lengths = frame_lengths.clamp(min=1)
        logits = self.head(self.lstm(sequence, None if frame_lengths is None else output_lengths))

        loss = None
        if labels is not None:
            real = labels[labels != -100]
            if real.numel() and (real.max() >= self.config.vocab_size or real.min() < 0):
                raise ValueError(
                    f"label ids must lie in [0, vocab_size={self.config.vocab_size}), "
                    f"got ids from {real.min().item()} to {real.max().item()}"
                )
            if (real == self.config.pad_token_id).any():
                raise ValueError(f"labels hold the blank id {self.config.pad_token_id}; pad labels with -100")
            loss = self._ctc_loss(logits, labels, output_lengths)

        if not return_dict:
            output = (logits, output_lengths)
            return ((loss,) + output) if loss is not None else output
        return StackMixHTROutput(loss=loss, logits=logits, output_lengths=output_lengths)


__all__ = ["StackMixHTRForCTC", "StackMixHTRPreTrainedModel", "StackMixHTROutput", "StackMixHTRBiLSTM"]
