"""The processor and model a run starts with: from its saved state when resuming, from --init_from, or
fresh from the arguments (with the output layer's starting bias)."""

from pathlib import Path

from accelerate.logging import get_logger
from transformers import AutoProcessor

from modeling_stackmix_htr import StackMixHTRConfig, StackMixHTRImageProcessor, StackMixHTRProcessor
from stackmix_htr.common.errors import InputError

from .checkpointing import MODEL_SPEC_DIR, resolve_state_dir
from .checks import output_frames
from .init_from import start_from_pretrained
from .output_layer import initial_output_bias

logger = get_logger(__name__)


def build_processor(args, config: StackMixHTRConfig, vocab_texts: list[str], text_rules: str) -> StackMixHTRProcessor:
    """The processor: image settings from the model config, vocabulary from --vocab or `vocab_texts`."""
    image_settings = {
        "num_channels": config.num_channels,
        "image_height": config.image_height,
        "max_width": config.max_width,
    }
    if args.vocab and Path(args.vocab).is_dir():
        tokenizer = AutoProcessor.from_pretrained(args.vocab).tokenizer
        return StackMixHTRProcessor(StackMixHTRImageProcessor(**image_settings), tokenizer, text_rules=text_rules)
    texts = Path(args.vocab).read_text(encoding="utf-8").splitlines() if args.vocab else vocab_texts
    return StackMixHTRProcessor.from_texts(texts, text_rules=text_rules, **image_settings)


def build_model_config(args, vocab_size: int) -> StackMixHTRConfig:
    overrides = {
        name: getattr(args, name)
        for name in ("image_height", "max_width", "num_channels")
        if getattr(args, name) is not None
    }
    if args.init_resnet34:
        overrides["pretrained_resnet34_path"] = args.init_resnet34
    return StackMixHTRConfig.from_preset(args.model_preset, vocab_size=vocab_size, **overrides)


def build_processor_and_model(args, output_dir: Path, vocab_texts: list[str], text_rules: str):
    """(processor, config, model with its weights or None, state folder to resume from or None): from the
    saved state when resuming, from --init_from, else from the arguments (the model is then built later)."""
    if args.resume_from_checkpoint:
        requested = (
            output_dir / "state" if args.resume_from_checkpoint == "latest" else Path(args.resume_from_checkpoint)
        )
        state_dir = resolve_state_dir(requested)
        if state_dir is None:
            raise InputError(
                f"--resume_from_checkpoint: no complete training state in {requested}; "
                "give a state folder or start anew"
            )
        processor = AutoProcessor.from_pretrained(state_dir / MODEL_SPEC_DIR)
        config = StackMixHTRConfig.from_pretrained(state_dir / MODEL_SPEC_DIR)
        config.pretrained_resnet34_path = None  # the state holds trained weights
        if args.init_from:
            logger.info(f"resuming: the saved state holds the weights, --init_from {args.init_from} is not read")
        return processor, config, None, state_dir
    if args.init_from:
        start = start_from_pretrained(
            args.init_from,
            vocab_texts,
            vocab_resize=args.vocab_resize,
            text_rules=text_rules,
            preset=args.model_preset,
            image_height=args.image_height,
            num_channels=args.num_channels,
            max_width=args.max_width,
            trust_remote_code=args.trust_remote_code,
        )
        for note in start.notes:
            logger.info(note)
        return start.processor, start.model.config, start.model, None
    config = build_model_config(args, vocab_size=1)
    processor = build_processor(args, config, vocab_texts, text_rules)
    config.vocab_size = processor.vocab_size
    return processor, config, None, None


def initial_bias(args, processor, config, train_split, train_sizes):
    """The output-layer bias of a fresh model (--blank_bias), None for one from --init_from."""
    if args.blank_bias is None:
        return None
    frames = [output_frames(processor.image_processor, w, h, config.width_stride) for w, h in zip(*train_sizes)]
    output_bias = initial_output_bias(args.blank_bias, processor, train_split["text"], train_split["sample_id"], frames)
    logger.info(f"output-layer bias --blank_bias {args.blank_bias}: blank {output_bias[processor.blank_id]:.3f}")
    return output_bias
