"""Handwritten blots: strike-through scribbles drawn over a text line (the paper's "blots").

A blot is a zig-zag scribble inside a random rectangle. Its control points alternate between clusters near
the left and near the right edge of the rectangle, stepping down it; one Bezier curve of very high degree
through all of them smooths the clusters into pen strokes. The curve is evaluated for all parameter values
at once from the Bernstein basis, computed in log space so that degrees of several hundred stay finite.
"""

import albumentations as A
import cv2
import numpy as np

# Pixel sizes are given for this line height and scaled with the image height.
REFERENCE_HEIGHT = 128
# Points at which each Bezier curve is evaluated (the polyline has one segment less).
CURVE_POINTS = 50
# A left cluster and the right cluster after it share this many control points, split at random.
POINTS_PER_ZIG_ZAG = 80
MIN_POINTS_PER_CLUSTER = 10
# Horizontal bands of the left and right clusters, as fractions of the rectangle width.
LEFT_BAND = (0.01, 0.20)
RIGHT_BAND = (0.80, 0.99)
# Subpixel bits for cv2 drawing: coordinates are passed multiplied by 2**DRAW_SHIFT.
DRAW_SHIFT = 4


def bernstein_basis(degree: int, t: np.ndarray) -> np.ndarray:
    """Bernstein polynomials of `degree` at parameters `t` (all in the open interval (0, 1)).

    Returns:
        float64 array (len(t), degree + 1) whose row i holds B_{k,degree}(t_i) for k = 0..degree.
    """
    k = np.arange(degree + 1)
    # log C(degree, k) as a running sum of log((degree - j + 1) / j), exact enough and overflow-free.
    log_binomial = np.concatenate(([0.0], np.cumsum(np.log(degree - k[1:] + 1.0) - np.log(k[1:]))))
    log_terms = log_binomial + k * np.log(t)[:, None] + (degree - k) * np.log1p(-t)[:, None]
    return np.exp(log_terms)


def bezier_curve(control_points: np.ndarray, num_points: int = CURVE_POINTS) -> np.ndarray:
    """Points of the Bezier curve defined by `control_points` (N, 2), at `num_points` parameters in [0.01, 0.99].

    Returns:
        float64 array (num_points, 2) of (x, y).
    """
    t = np.linspace(0.01, 0.99, num_points)
    return bernstein_basis(len(control_points) - 1, t) @ control_points


def zig_zag_control_points(
    rng: np.random.Generator,
    x: float,
    y: float,
    width: float,
    height: float,
    intensity: float,
    incline: float,
) -> np.ndarray:
    """Control points of one scribble in the rectangle (x, y, width, height), in drawing order.

    The rectangle is cut into `int(intensity * 20)` horizontal steps. The first tenth of the steps each get
    one point anywhere in the rectangle; every other step gets a cluster of points, alternately in the left
    band (shifted down by `incline`) and in the right band (shifted up by `incline`), so the strokes between
    them climb from left to right. The incline may carry points up to `incline` beyond the rectangle.

    Returns:
        float64 array (N, 2) of (x, y) image coordinates, N between a few dozen and several hundred.
    """
    num_steps = max(2, int(intensity * 20))
    step = max(1, int(height) // num_steps)
    num_random = num_steps // 10
    random_points = rng.uniform((x, y), (x + width, y + height), size=(num_random, 2))

    steps = np.arange(num_random, num_steps)
    is_left = steps % 2 == 0
    left_sizes = rng.integers(MIN_POINTS_PER_CLUSTER, POINTS_PER_ZIG_ZAG - MIN_POINTS_PER_CLUSTER + 1, len(steps))
    sizes = np.where(is_left, left_sizes, POINTS_PER_ZIG_ZAG - left_sizes)
    point_steps = np.repeat(steps, sizes)
    point_is_left = np.repeat(is_left, sizes)

    band_start = np.where(point_is_left, LEFT_BAND[0], RIGHT_BAND[0]) * width
    band_end = np.where(point_is_left, LEFT_BAND[1], RIGHT_BAND[1]) * width
    offsets = rng.random((len(point_steps), 2))
    xs = x + band_start + offsets[:, 0] * (band_end - band_start)
    ys = y + (point_steps + offsets[:, 1]) * step + np.where(point_is_left, incline, -incline)
    return np.concatenate([random_points, np.stack([xs, ys], axis=1)])


def draw_blots(image: np.ndarray, blots: list[dict]) -> np.ndarray:
    """Blend black scribbles onto a copy of `image`.

    Args:
        image: uint8 (H, W) or (H, W, C).
        blots: dicts with `curves` float (R, T, 2) polyline points in image coordinates, `thickness` int
            (R, T - 1) per-segment line widths in pixels, and `opacity` float in [0, 1] of the blot's ink.

    Returns:
        uint8 array of the same shape as `image`.
    """
    out = image.copy()
    image_height, image_width = image.shape[:2]
    for blot in blots:
        curves, thickness = blot["curves"], blot["thickness"]
        # Work on the blot's bounding box only: blots are small next to a line image.
        margin = int(thickness.max()) + 2
        x_lo = max(0, int(np.floor(curves[..., 0].min())) - margin)
        y_lo = max(0, int(np.floor(curves[..., 1].min())) - margin)
        x_hi = min(image_width, int(np.ceil(curves[..., 0].max())) + margin + 1)
        y_hi = min(image_height, int(np.ceil(curves[..., 1].max())) + margin + 1)
        if x_lo >= x_hi or y_lo >= y_hi:
            continue

        ink = np.zeros((y_hi - y_lo, x_hi - x_lo), np.uint8)
        fixed_point = np.rint((curves - (x_lo, y_lo)) * (1 << DRAW_SHIFT)).astype(np.int32)
        segments = np.stack([fixed_point[:, :-1], fixed_point[:, 1:]], axis=2)  # (R, T - 1, 2, 2)
        # One polylines call per line width draws every segment with its own width.
        for width in np.unique(thickness):
            cv2.polylines(ink, list(segments[thickness == width]), False, 255, int(width), cv2.LINE_AA, DRAW_SHIFT)

        alpha = ink.astype(np.float32) * (blot["opacity"] / 255.0)
        region = out[y_lo:y_hi, x_lo:x_hi]
        if region.ndim == 3:
            alpha = alpha[..., None]
        out[y_lo:y_hi, x_lo:x_hi] = np.rint(region * (1.0 - alpha)).astype(np.uint8)
    return out


def _check_range(name: str, value: tuple, low: float, high: float | None = None) -> tuple:
    if len(value) != 2 or value[0] > value[1] or value[0] < low or (high is not None and value[1] > high):
        bounds = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"HandwrittenBlot: {name} must be a (min, max) pair with min <= max in {bounds}, got {value}")
    return tuple(value)


class HandwrittenBlot(A.ImageOnlyTransform):
    """Strike-through scribbles over a text line, as in the paper's handwritten blots.

    With probability `p`, draws a number of blots drawn uniformly from `count`. Each lies in a random
    rectangle whose height and width are drawn from `height` and `width` (pixels at a line height of
    `reference_height`, scaled by image height / reference_height and clipped to the image). In it, a
    zig-zag of control points (see `zig_zag_control_points`) defines one Bezier curve; it is drawn in black
    as a polyline of 49 segments, each with a width drawn from `thickness` (scaled likewise), repeated
    `int(intensity * 5)` times with fresh points, and blended onto the image with ink opacity
    1 - transparency.

    All ranges are inclusive (min, max) pairs. Randomness comes from the transform's own generators, so a
    seeded `A.Compose` reproduces its output.

    Targets: image, uint8 (H, W) or (H, W, C); the output has the same shape and dtype.
    """

    def __init__(
        self,
        count: tuple[int, int] = (1, 10),
        height: tuple[int, int] = (50, 100),
        width: tuple[int, int] = (20, 100),
        incline: tuple[float, float] = (10, 50),
        intensity: tuple[float, float] = (0.75, 0.75),
        transparency: tuple[float, float] = (0.05, 0.4),
        thickness: tuple[int, int] = (1, 4),
        reference_height: int = REFERENCE_HEIGHT,
        p: float = 0.5,
    ):
        super().__init__(p=p)
        self.count = _check_range("count", count, 0)
        self.height = _check_range("height", height, 1)
        self.width = _check_range("width", width, 1)
        self.incline = _check_range("incline", incline, 0)
        self.intensity = _check_range("intensity", intensity, 0.05, 1.0)
        self.transparency = _check_range("transparency", transparency, 0.0, 1.0)
        self.thickness = _check_range("thickness", thickness, 1)
        if reference_height < 1:
            raise ValueError(f"HandwrittenBlot: reference_height must be positive, got {reference_height}")
        self.reference_height = reference_height

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("count", "height", "width", "incline", "intensity", "transparency", "thickness", "reference_height")

    def get_params_dependent_on_data(self, params: dict, data: dict) -> dict:
        image_height, image_width = params["shape"][:2]
        scale = image_height / self.reference_height
        num_blots = self.py_random.randint(*self.count)
        return {"blots": [self._sample_blot(image_height, image_width, scale) for _ in range(num_blots)]}

    def _sample_blot(self, image_height: int, image_width: int, scale: float) -> dict:
        rect_height = min(image_height, max(1, round(self.py_random.randint(*self.height) * scale)))
        rect_width = min(image_width, max(1, round(self.py_random.randint(*self.width) * scale)))
        x = self.py_random.randint(0, image_width - rect_width)
        y = self.py_random.randint(0, image_height - rect_height)
        incline = self.py_random.uniform(*self.incline) * scale
        intensity = self.py_random.uniform(*self.intensity)
        opacity = 1.0 - self.py_random.uniform(*self.transparency)
        repeats = max(1, int(intensity * 5))

        curves = np.stack(
            [
                bezier_curve(
                    zig_zag_control_points(self.random_generator, x, y, rect_width, rect_height, intensity, incline)
                )
                for _ in range(repeats)
            ]
        )
        widths = self.random_generator.integers(self.thickness[0], self.thickness[1] + 1, (repeats, CURVE_POINTS - 1))
        widths = np.maximum(1, np.rint(widths * scale)).astype(np.int64)
        return {"curves": curves, "thickness": widths, "opacity": opacity}

    def apply(self, img: np.ndarray, blots: list[dict], **params) -> np.ndarray:
        if img.dtype != np.uint8:
            raise TypeError(f"HandwrittenBlot expects a uint8 image, got {img.dtype}")
        return draw_blots(img, blots)
