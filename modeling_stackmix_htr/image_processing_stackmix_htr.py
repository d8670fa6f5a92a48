"""Image processor: text-line images -> padded (B, C, H, W) batches with a column mask."""

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature

_CHANNEL_MODES = {1: "L", 3: "RGB"}


class StackMixHTRImageProcessor(BaseImageProcessor):
    r"""
    Prepares text-line images for [`StackMixHTRForCTC`].

    Each line keeps its aspect ratio and is scaled down (never up) to fit
    `image_height` x `max_width`; it is centred vertically and placed at the left of a
    black canvas. A batch is as wide as its widest line, rounded up to a multiple of
    `pad_to_multiple_of` (the model's width stride). Values are scaled to [0, 1].

    Args:
        num_channels (`int`): 3 (RGB) or 1 (grayscale); inputs are converted to it.
        image_height (`int`): canvas height in pixels.
        max_width (`int`): widest line in pixels; wider lines are scaled down to fit.
        pad_to_multiple_of (`int`): batch width granularity.
        resample (`int`): PIL resampling filter used when a line is scaled down.
        rescale_factor (`float`): factor from uint8 values to model inputs.

    Returns (from `__call__`): `BatchFeature` with
        - `pixel_values` float32 `(batch, num_channels, image_height, width)`;
        - `pixel_mask` int64 `(batch, width)`, 1 on the columns of the line.
        The valid width of line i is `pixel_mask[i].sum()`; original pixels per model
        pixel along x is `original_width / valid_width`.
    """

    model_input_names = ["pixel_values", "pixel_mask"]

    def __init__(
        self,
        num_channels: int = 3,
        image_height: int = 128,
        max_width: int = 2048,
        pad_to_multiple_of: int = 8,
        resample: int = Image.Resampling.BILINEAR,
        rescale_factor: float = 1 / 255,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_channels not in _CHANNEL_MODES:
            raise ValueError(f"num_channels must be 1 or 3, got {num_channels}")
        if max_width % pad_to_multiple_of:
            raise ValueError(f"max_width ({max_width}) must be a multiple of pad_to_multiple_of ({pad_to_multiple_of})")
        self.num_channels = num_channels
        self.image_height = image_height
        self.max_width = max_width
        self.pad_to_multiple_of = pad_to_multiple_of
        self.resample = int(resample)
        self.rescale_factor = rescale_factor

    def _load(self, image, name: str) -> Image.Image:
        """Turn one input (PIL image, uint8 array (H, W) / (H, W, C), or file path) into a PIL image."""
        if isinstance(image, (str, os.PathLike)):
            path = os.fspath(image)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{name}: image file not found: {path}")
            try:
                with Image.open(path) as opened:
                    opened.load()
                    image = opened.copy()
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
                raise ValueError(f"{name}: cannot read image file {path}: {error}") from error
        elif isinstance(image, np.ndarray):
            if image.dtype != np.uint8:
                raise TypeError(f"{name}: expected a uint8 array, got dtype {image.dtype}")
            if image.ndim == 3 and image.shape[2] == 1:
                image = image[:, :, 0]
            if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
                raise ValueError(f"{name}: expected an array of shape (H, W) or (H, W, 1|3|4), got {image.shape}")
            if image.shape[0] == 0 or image.shape[1] == 0:
                raise ValueError(f"{name}: the image is empty ({image.shape[1]}x{image.shape[0]} pixels)")
            image = Image.fromarray(np.ascontiguousarray(image))
        elif isinstance(image, (bytes, bytearray, memoryview)):
            # As transformers' image pipelines (load_image): encoded bytes are decoded by the caller.
            raise TypeError(
                f"{name}: got the raw bytes of an encoded image; decode them first: "
                "PIL.Image.open(io.BytesIO(data)), or pass the file's path"
            )
        elif not isinstance(image, Image.Image):
            raise TypeError(
                f"{name}: expected a PIL image, a uint8 numpy array or a file path, got {type(image).__name__}"
            )
        if image.width == 0 or image.height == 0:
            raise ValueError(f"{name}: the image is empty ({image.width}x{image.height} pixels)")
        if image.mode.startswith("I"):
            # 16-bit grayscale: PIL's own conversion would clip everything above 255 to white.
            values = np.asarray(image, dtype=np.float64)
            if values.max() > 255:
                values = values / 257
            image = Image.fromarray(np.clip(values.round(), 0, 255).astype(np.uint8))
        return image.convert(_CHANNEL_MODES[self.num_channels])

    def fit_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of a line after fitting it into image_height x max_width without upscaling."""
        scale = min(self.image_height / height, self.max_width / width, 1.0)
        return (
            min(self.max_width, max(1, round(width * scale))),
            min(self.image_height, max(1, round(height * scale))),
        )

    def preprocess(
        self,
        images,
        return_tensors: str | None = "pt",
        sample_ids: Sequence[str] | None = None,
        **kwargs,
    ) -> BatchFeature:
        """
        Args:
            images: one image or a list of images (PIL images, uint8 arrays (H, W) or (H, W, C),
                or paths of image files).
            return_tensors (`str`, *optional*): "pt", "np" or None (numpy arrays).
            sample_ids (`list[str]`, *optional*): names used in error messages instead of the index.
        """
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
        if isinstance(images, (Image.Image, np.ndarray, str, os.PathLike)):
            images = [images]
        images = list(images)
        if not images:
            raise ValueError("no images given")
        if sample_ids is not None and len(sample_ids) != len(images):
            raise ValueError(f"got {len(sample_ids)} sample_ids for {len(images)} images")

        lines = []
        for index, image in enumerate(images):
            name = f"sample {sample_ids[index]!r}" if sample_ids is not None else f"image {index}"
            lines.append(self.fit_line(image, name))
        return self.pad_lines(lines, return_tensors=return_tensors)

    def fit_line(self, image, name: str = "image 0") -> np.ndarray:
        """One line loaded, converted to `num_channels` and scaled down to fit the canvas:
        uint8 `(height, width, num_channels)`. `name` is how error messages call it."""
        line = self._load(image, name)
        size = self.fit_size(line.width, line.height)
        if size != line.size:
            line = line.resize(size, resample=self.resample)
        return np.asarray(line, dtype=np.uint8).reshape(line.height, line.width, self.num_channels)

    def pad_lines(self, lines: Sequence[np.ndarray], return_tensors: str | None = "pt") -> BatchFeature:
        """Lines from `fit_line` -> one batch, as wide as its widest line rounded up to
        `pad_to_multiple_of`, each line centred vertically at the left with its `pixel_mask`."""
        widest = max(line.shape[1] for line in lines)
        batch_width = -(-widest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        pixel_values = np.zeros((len(lines), self.num_channels, self.image_height, batch_width), dtype=np.float32)
        pixel_mask = np.zeros((len(lines), batch_width), dtype=np.int64)
        for index, line in enumerate(lines):
            height, width = line.shape[:2]
            top = (self.image_height - height) // 2
            pixel_values[index, :, top : top + height, :width] = line.transpose(2, 0, 1) * self.rescale_factor
            pixel_mask[index, :width] = 1
        return BatchFeature({"pixel_values": pixel_values, "pixel_mask": pixel_mask}, tensor_type=return_tensors)


__all__ = ["StackMixHTRImageProcessor"]
