"""Configuration of the StackMix ResNet-BiLSTM-CTC line recognizer."""

from transformers import PretrainedConfig

# Presets: "paper" is the published architecture; "small" costs about what PyLaia's
# default CRNN costs per line; "tiny" trains a step on CPU in milliseconds (tests).
PRESETS = {
    "paper": {},
    "small": {
        "image_height": 64,
        "max_width": 1024,
        "stage_channels": (32, 64, 128),
        "stage_blocks": (2, 2, 2),
        "sequence_features": 128,
        "lstm_hidden_size": 128,
        "lstm_num_layers": 2,
        "head_hidden_size": 128,
    },
    "tiny": {
        "image_height": 32,
        "max_width": 512,
        "stage_channels": (8, 16, 32),
        "stage_blocks": (1, 1, 1),
        "stem_kernel_size": 3,
        "sequence_features": 32,
        "lstm_hidden_size": 32,
        "lstm_num_layers": 1,
        "head_hidden_size": 32,
    },
}


class StackMixHTRConfig(PretrainedConfig):
    r"""
    Configuration of [`StackMixHTRForCTC`]. The defaults reproduce the paper's recognizer:
    a 128 x 2048 RGB line goes through a stride-1 7x7 stem, a 3x3/2 max-pool and
    ResNet34's first three stages (3, 4, 6 BasicBlocks; 64, 128, 256 channels; the last
    two halve the resolution), giving 256 x 16 x 256 features; the feature axis
    (channels x height) is average-pooled to 256 per column, then a 3-layer BiLSTM
    (256 per direction) and a Linear-GELU-Dropout-Linear head give one class
    distribution per 8 pixel columns.

    Use [`StackMixHTRConfig.from_preset`] for the "paper", "small" and "tiny" sizes.

    Args:
        vocab_size (`int`): number of CTC classes, blank included.
        num_channels (`int`): image channels the model reads (3 = RGB, 1 = grayscale).
        image_height (`int`): line height in pixels after resizing; a multiple of 8.
        max_width (`int`): widest line in pixels; wider lines are scaled down; a multiple of 8.
        stem_kernel_size (`int`): kernel of the stride-1 stem convolution.
        stage_channels (`tuple[int, int, int]`): output channels of the three residual stages.
        stage_blocks (`tuple[int, int, int]`): BasicBlocks per stage.
        sequence_features (`int`): size each column's (channels x height/8) features are pooled to.
        lstm_hidden_size (`int`): hidden size per direction of the BiLSTM.
        lstm_num_layers (`int`): stacked BiLSTM layers.
        lstm_dropout (`float`): dropout between BiLSTM layers.
        head_hidden_size (`int`): width of the head's hidden layer.
        head_dropout (`float`): dropout inside the head.
        pad_token_id (`int`): the CTC blank, also the tokenizer's pad id.
        ctc_loss_reduction (`str`): "mean" (per-target-length mean over the batch), "sum" or "none".
        ctc_zero_infinity (`bool`): zero the loss of lines too long for their frame count.
        pretrained_resnet34_path (`str`, *optional*): a local torchvision-format ImageNet
            ResNet34 state dict (.safetensors, or .pth read with `weights_only=True`) used to
            initialise the stem and the three stages when a model is built from this config
            (not when loading a trained checkpoint). Nothing is downloaded.
    """

    model_type = "stackmix_htr"
    # Set by the installed package once it registered the "handwriting-recognition" pipeline.
    registered_pipeline_serves_checkpoints = False

    def __init__(
        self,
        vocab_size: int = 100,
        num_channels: int = 3,
        image_height: int = 128,
        max_width: int = 2048,
        stem_kernel_size: int = 7,
        stage_channels: tuple[int, int, int] = (64, 128, 256),
        stage_blocks: tuple[int, int, int] = (3, 4, 6),
        sequence_features: int = 256,
        lstm_hidden_size: int = 256,
        lstm_num_layers: int = 3,
        lstm_dropout: float = 0.1,
        head_hidden_size: int = 256,
        head_dropout: float = 0.1,
        pad_token_id: int = 0,
        ctc_loss_reduction: str = "mean",
        ctc_zero_infinity: bool = True,
        pretrained_resnet34_path: str | None = None,
        **kwargs,
    ):
        if len(stage_channels) != 3 or len(stage_blocks) != 3:
            raise ValueError("stage_channels and stage_blocks need exactly three entries (ResNet stages 1-3)")
        for name, value in (("image_height", image_height), ("max_width", max_width)):
            if value <= 0 or value % 8:
                raise ValueError(f"{name} must be a positive multiple of the width stride 8, got {value}")
        if ctc_loss_reduction not in ("mean", "sum", "none"):
            raise ValueError(f"ctc_loss_reduction must be 'mean', 'sum' or 'none', got {ctc_loss_reduction!r}")
        self.vocab_size = vocab_size
        self.num_channels = num_channels
        self.image_height = image_height
        self.max_width = max_width
        self.stem_kernel_size = stem_kernel_size
        self.stage_channels = list(stage_channels)
        self.stage_blocks = list(stage_blocks)
        self.sequence_features = sequence_features
        self.lstm_hidden_size = lstm_hidden_size
        self.lstm_num_layers = lstm_num_layers
        self.lstm_dropout = lstm_dropout
        self.head_hidden_size = head_hidden_size
        self.head_dropout = head_dropout
        self.ctc_loss_reduction = ctc_loss_reduction
        self.ctc_zero_infinity = ctc_zero_infinity
        self.pretrained_resnet34_path = pretrained_resnet34_path
        # Saved folders carry `custom_pipelines` so that a process without this package builds the
        # pipeline from the folder's code (trust_remote_code=True). Where the package is imported, its
        # registered pipeline serves the folder (the package's __init__ sets the flag below), as the
        # Auto classes prefer registered code; transformers would otherwise insist on the folder's copy
        # and on trust_remote_code.
        custom_pipelines = kwargs.pop("custom_pipelines", None)
        if custom_pipelines and not self.registered_pipeline_serves_checkpoints:
            kwargs["custom_pipelines"] = custom_pipelines
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    @property
    def width_stride(self) -> int:
        """Pixel columns per output frame: the max-pool and stages 2 and 3 each halve the width."""
        return 8

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "StackMixHTRConfig":
        """Build the "paper", "small" or "tiny" configuration, with `overrides` applied on top."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


__all__ = ["StackMixHTRConfig", "PRESETS"]
