"""Start a training run from a trained recognizer (`train_accelerate.py --init_from`).

`--init_from` takes only the weights of a trained model (a `save_pretrained` folder such as
`best_cer/`, or a Hub model id) and starts a new run: fresh optimizer and schedule from epoch 0,
possibly on other data, with other characters and other text rules. `--resume_from_checkpoint`
instead continues an interrupted run from its state folder (optimizer, schedule and position
included).

The output layer is mapped onto the new run's characters (`--vocab_resize`):

- `union`: the checkpoint's classes keep their ids and rows; characters it lacks are appended;
- `new`: only the run's characters, in the order a fresh run gives them; rows of characters the
  checkpoint knows are copied;
- `keep`: the checkpoint's vocabulary; characters of the data outside it stop the run.

The blank and "<unk>" rows are always copied, so a copied character's logit is exactly what the
checkpoint gave (`output_layer.copy_output_rows`; a new character starts as an average known one).

The checkpoint fixes the architecture. A different line height (`--image_height`) is taken when
each column's features are pooled to per-channel means over the height (`sequence_features` equal
to the last stage's channels, as in every preset): every weight then fits any height, the filters
see the writing larger or smaller than in training until fine-tuning adapts them, and `max_width`
scales with the height unless given. A different channel count converts the stem:
RGB -> gray sums each kernel over its input channels; gray -> RGB gives every input channel the
kernel divided by 3. Either way a gray line (which the processor replicates to RGB for an RGB
model) yields the same features as before.
"""

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCTC, AutoProcessor
from transformers.dynamic_module_utils import get_class_from_dynamic_module

from modeling_stackmix_htr import (
    StackMixHTRConfig,
    StackMixHTRForCTC,
    StackMixHTRImageProcessor,
    StackMixHTRProcessor,
    get_text_rules,
)
from modeling_stackmix_htr.tokenization_stackmix_htr import (
    BLANK_TOKEN,
    UNKNOWN_TOKEN,
    character_vocabulary,
    text_characters,
)
from stackmix_htr.common.errors import InputError
from stackmix_htr.common.hub import could_be_hub_id
from stackmix_htr.pretrained import resolve_model

from .output_layer import copy_output_rows, output_layer

VOCAB_RESIZE_MODES = ("union", "new", "keep")
# Config fields that shape the weights: a --model_preset given with --init_from must agree on them.
ARCHITECTURE_FIELDS = (
    "stem_kernel_size",
    "stage_channels",
    "stage_blocks",
    "sequence_features",
    "lstm_hidden_size",
    "lstm_num_layers",
    "head_hidden_size",
)
STEM_WEIGHT = "backbone.conv1.weight"


class InitFromError(InputError):
    """The checkpoint cannot start this run as asked (one line, with the remedy)."""


@dataclass
class PretrainedStart:
    """The model and processor a run starts from, and what was changed to get them (for the log)."""

    model: StackMixHTRForCTC
    processor: StackMixHTRProcessor
    notes: list[str] = field(default_factory=list)


def load_trained_recognizer(source: str, trust_remote_code: bool = False):
    """`from_pretrained` of a checkpoint folder or Hub id: (model in eval mode, processor).

    With `trust_remote_code` the model is built by the code saved next to its weights (the
    `AutoModelForCTC` entry of its config's `auto_map`), not by this package's class, which
    `AutoModelForCTC` would otherwise prefer. The processor is plain data (vocabulary, image
    settings, text rules) and is always read with this package's class.
    """
    source = resolve_model(source)
    local = Path(source)
    if local.is_file():
        raise InitFromError(f"--init_from {source}: a file, not a checkpoint folder")
    if not local.is_dir() and not could_be_hub_id(source):
        raise InitFromError(f"--init_from {source}: no such folder")
    try:
        model_class = AutoModelForCTC
        if trust_remote_code:
            reference = (getattr(AutoConfig.from_pretrained(source), "auto_map", None) or {}).get("AutoModelForCTC")
            if reference is None:
                raise InitFromError(
                    f"--init_from {source}: --trust_remote_code, but its config.json names no code (auto_map)"
                )
            model_class = get_class_from_dynamic_module(reference, source)
        model = model_class.from_pretrained(source)
        processor = AutoProcessor.from_pretrained(source)
    except (OSError, ValueError) as error:
        if isinstance(error, InitFromError):
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        where = "" if local.is_dir() else " (no such local folder; tried it as a Hub model id)"
        raise InitFromError(f"--init_from {source}{where}: cannot load a trained model ({reason})") from error
    if model.config.model_type != StackMixHTRConfig.model_type:
        raise InitFromError(
            f"--init_from {source}: a {model.config.model_type!r} model, not a StackMix-HTR recognizer "
            f"({StackMixHTRConfig.model_type!r})"
        )
    return model.eval(), processor


def describe_characters(characters) -> str:
    return ", ".join(f"{char!r} (U+{ord(char):04X})" for char in sorted(characters))


def resized_vocabulary(old_vocab: dict[str, int], characters: set[str], mode: str) -> dict[str, int]:
    """The new run's vocabulary (token -> id) from the checkpoint's and the run's characters."""
    if mode not in VOCAB_RESIZE_MODES:
        raise ValueError(f"unknown vocabulary mode {mode!r}; choose one of {', '.join(VOCAB_RESIZE_MODES)}")
    special = {BLANK_TOKEN, UNKNOWN_TOKEN}
    unknown = characters - set(old_vocab) - special
    if mode == "keep":
        if unknown:
            raise InitFromError(
                f"--vocab_resize keep: the checkpoint's vocabulary lacks {len(unknown)} character(s) of the data: "
                f"{describe_characters(unknown)}; use --vocab_resize union (or new), or other text rules"
            )
        return dict(old_vocab)
    if mode == "union":
        vocab = dict(sorted(old_vocab.items(), key=lambda item: item[1]))
        for char in sorted(unknown):
            vocab[char] = len(vocab)
        return vocab
    return character_vocabulary(characters - special)


def convert_stem(weight: torch.Tensor, num_channels: int) -> torch.Tensor:
    """Stem kernels (out, in, k, k) for `num_channels` inputs: RGB -> gray sums, gray -> RGB splits in thirds."""
    have = weight.shape[1]
    if have == num_channels:
        return weight
    if (have, num_channels) == (3, 1):
        return weight.sum(dim=1, keepdim=True)
    if (have, num_channels) == (1, 3):
        return weight.expand(-1, 3, -1, -1) / 3
    raise InitFromError(f"cannot convert a stem with {have} input channel(s) to {num_channels}")


def check_architecture(checkpoint: dict, preset: str | None, image_height: int | None, source: str) -> None:
    """Stop when the asked preset differs from the checkpoint's architecture, or the asked line height
    from its own while its pooling depends on the height."""
    if preset is not None:
        wanted = StackMixHTRConfig.from_preset(preset).to_dict()
        differing = [
            name for name in ARCHITECTURE_FIELDS if list_or_value(wanted[name]) != list_or_value(checkpoint[name])
        ]
        if differing:
            shown = ", ".join(f"{name} {checkpoint[name]} vs {wanted[name]}" for name in differing)
            raise InitFromError(
                f"--model_preset {preset} does not match the architecture of --init_from {source} ({shown}); "
                "drop --model_preset: the checkpoint fixes the architecture"
            )
    if image_height not in (None, checkpoint["image_height"]) and not pooling_is_height_free(checkpoint):
        raise InitFromError(
            f"--image_height {image_height} differs from the line height of --init_from {source} "
            f"({checkpoint['image_height']} px), and its column pooling mixes feature rows of that height "
            f"(sequence_features {checkpoint['sequence_features']} from {checkpoint['stage_channels'][-1]} channels). "
            f"Drop --image_height (lines are resized to {checkpoint['image_height']} px) or train from scratch"
        )


def pooling_is_height_free(config: dict) -> bool:
    """True when each column's features are pooled to one mean over the height per channel (the
    channel-major groups of the pooling are then whole channels): the weights fit any line height."""
    return config["sequence_features"] == list_or_value(config["stage_channels"])[-1]


def list_or_value(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def start_from_pretrained(
    source: str,
    texts: Sequence[str],
    *,
    vocab_resize: str = "union",
    text_rules: str = "none",
    preset: str | None = None,
    image_height: int | None = None,
    num_channels: int | None = None,
    max_width: int | None = None,
    trust_remote_code: bool = False,
) -> PretrainedStart:
    """A model and processor for a new run on `texts` (its training and validation transcriptions),
    initialised from the trained recognizer `source`.

    Raises:
        InitFromError: the checkpoint does not load, or its architecture, line height or vocabulary
            (with `keep`) does not fit the request.
    """
    trained, trained_processor = load_trained_recognizer(source, trust_remote_code)
    checkpoint = trained.config.to_dict()
    check_architecture(checkpoint, preset, image_height, source)

    old_vocab = trained_processor.tokenizer.get_vocab()
    vocab = resized_vocabulary(old_vocab, text_characters(texts, get_text_rules(text_rules)), vocab_resize)
    image_settings = {
        name: value
        for name, value in trained_processor.image_processor.to_dict().items()
        if name in inspect.signature(StackMixHTRImageProcessor).parameters
    }
    height = image_height or checkpoint["image_height"]
    scale = height / checkpoint["image_height"]
    multiple = image_settings["pad_to_multiple_of"]
    image_settings.update(
        num_channels=num_channels or checkpoint["num_channels"],
        image_height=height,
        max_width=max_width or max(multiple, round(checkpoint["max_width"] * scale / multiple) * multiple),
    )
    processor = StackMixHTRProcessor.from_vocab(vocab, text_rules=text_rules, **image_settings)

    config = StackMixHTRConfig.from_dict(
        {
            **checkpoint,
            "vocab_size": len(vocab),
            "num_channels": image_settings["num_channels"],
            "image_height": height,
            "max_width": image_settings["max_width"],
            "pretrained_resnet34_path": None,  # the backbone comes from the checkpoint
        }
    )
    model = StackMixHTRForCTC(config)
    load_mapped_weights(model, trained, old_vocab, vocab, source)

    kept = sum(1 for token in vocab if token in old_vocab)
    notes = [
        f"initialised from {source} ({type(trained).__module__}.{type(trained).__name__}): "
        f"--vocab_resize {vocab_resize}, {len(vocab)} classes, {kept} with the checkpoint's rows, "
        f"{len(vocab) - kept} new ({describe_characters(set(vocab) - set(old_vocab)) or 'none'}), "
        f"{len(set(old_vocab) - set(vocab))} of its {len(old_vocab)} dropped"
    ]
    if trained_processor.text_rules != text_rules:
        notes.append(f"text rules {trained_processor.text_rules!r} of the checkpoint replaced by {text_rules!r}")
    if height != checkpoint["image_height"]:
        notes.append(
            f"line height {checkpoint['image_height']} -> {height} px: every weight fits (each column's features "
            f"are per-channel means over the height); the filters see the writing at {scale:g}x the size they "
            f"were trained on until fine-tuning adapts them; max_width {config.max_width} px"
        )
    if config.num_channels != checkpoint["num_channels"]:
        rule = "kernels summed over RGB" if config.num_channels == 1 else "each RGB channel gets the gray kernel / 3"
        notes.append(
            f"stem converted from {checkpoint['num_channels']} to {config.num_channels} input channel(s) ({rule})"
        )
    return PretrainedStart(model, processor, notes)


@torch.no_grad()
def load_mapped_weights(
    model: StackMixHTRForCTC, trained: nn.Module, old_vocab: dict, vocab: dict, source: str
) -> None:
    """Copy every tensor of `trained` into `model`: the stem converted to the model's channels, the
    output layer row by row through the vocabularies."""
    source_state = trained.state_dict()
    target_state = model.state_dict()
    if set(source_state) != set(target_state):
        missing = sorted(set(target_state) - set(source_state))
        extra = sorted(set(source_state) - set(target_state))
        raise InitFromError(
            f"--init_from {source}: its weights do not fit this version's model "
            f"(missing {missing[:3]}, unexpected {extra[:3]})"
        )
    layer = output_layer(model)
    layer_names = {name for name, module in model.named_modules() if module is layer}
    output_keys = {f"{name}.{kind}" for name in layer_names for kind in ("weight", "bias")}
    merged = {}
    for key, value in source_state.items():
        if key in output_keys:
            continue
        if key == STEM_WEIGHT:
            value = convert_stem(value, target_state[key].shape[1])
        if value.shape != target_state[key].shape:
            raise InitFromError(
                f"--init_from {source}: {key} has shape {tuple(value.shape)}, expected {tuple(target_state[key].shape)}"
            )
        merged[key] = value
    model.load_state_dict(merged, strict=False)

    copy_output_rows(output_layer(trained), layer, old_vocab, vocab)


def set_backbone_trainable(model: StackMixHTRForCTC, trainable: bool) -> None:
    """Freeze or release the convolutional backbone: its weights (no gradients, so AdamW leaves them,
    weight decay included) and its batch-norm statistics (eval mode while frozen). Call after `model.train()`."""
    for parameter in model.backbone.parameters():
        parameter.requires_grad_(trainable)
    model.backbone.train(trainable and model.training)
