import albumentations as A
import numpy as np
import pytest

from augmentations.blots import HandwrittenBlot, bezier_curve


def blot(seed: int = 0, **kwargs) -> A.Compose:
    return A.Compose([HandwrittenBlot(**kwargs)], seed=seed)


def changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int]:
    """(height, width) of the bounding box of the pixels that differ."""
    ys, xs = np.nonzero((before != after).reshape(before.shape[0], before.shape[1], -1).any(axis=2))
    return ys.max() - ys.min() + 1, xs.max() - xs.min() + 1


def de_casteljau(control_points: np.ndarray, t: float) -> np.ndarray:
    points = control_points.copy()
    while len(points) > 1:
        points = (1 - t) * points[:-1] + t * points[1:]
    return points[0]


@pytest.mark.parametrize("shape", [(64, 300), (64, 300, 3), (64, 300, 1)])
def test_shape_and_dtype_preserved(shape):
    image = np.random.default_rng(0).integers(100, 256, shape, dtype=np.uint8)
    out = blot(p=1.0)(image=image)["image"]
    assert out.shape == image.shape
    assert out.dtype == np.uint8


def test_blots_only_darken_and_leave_the_input_untouched():
    image = np.full((64, 400, 3), 255, np.uint8)
    out = blot(seed=1, p=1.0, count=(3, 3))(image=image)["image"]
    assert (image == 255).all()
    assert (out < 255).any()
    assert (out <= image).all()
    # Black ink on white keeps the channels equal.
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_unchanged_at_p0():
    image = np.random.default_rng(0).integers(0, 256, (64, 300), dtype=np.uint8)
    for seed in range(5):
        assert np.array_equal(blot(seed=seed, p=0.0)(image=image)["image"], image)


@pytest.mark.parametrize("seed", range(6))
def test_single_blot_fits_its_scaled_rectangle(seed):
    # Height 64 halves the sizes given for 128-pixel lines.
    image = np.full((64, 600), 255, np.uint8)
    out = blot(seed=seed, p=1.0, count=(1, 1), height=(40, 60), width=(20, 80), incline=(0, 0), thickness=(2, 2))(
        image=image
    )["image"]
    height, width = changed_box(image, out)
    stroke_margin = 2 + 2  # half the scaled 1-pixel line width on each side plus anti-aliasing
    assert height <= 60 / 2 + stroke_margin
    assert width <= 80 / 2 + stroke_margin
    # The zig-zag spans most of the rectangle: left and right bands are 1-20 % and 80-99 % of its width.
    assert width >= 0.6 * 20 / 2


@pytest.mark.parametrize("seed", range(4))
def test_incline_extends_a_blot_by_at_most_the_incline(seed):
    image = np.full((256, 800), 255, np.uint8)
    out = blot(seed=seed, p=1.0, count=(1, 1), height=(50, 50), width=(60, 60), incline=(20, 20))(image=image)["image"]
    height, width = changed_box(image, out)
    # Scale 2: rectangle 100 x 120, incline 40 up and down, strokes up to 8 px wide.
    assert height <= 100 + 2 * 40 + 8 + 2
    assert width <= 120 + 8 + 2


def test_count_range_controls_number_of_blots():
    image = np.full((128, 3000), 255, np.uint8)
    few = (blot(seed=0, p=1.0, count=(1, 1))(image=image)["image"] < 255).sum()
    many = (blot(seed=0, p=1.0, count=(10, 10))(image=image)["image"] < 255).sum()
    assert many > 3 * few


def test_same_seed_same_output_other_seed_differs():
    image = np.full((64, 300), 230, np.uint8)
    first = blot(seed=7, p=1.0)(image=image)["image"]
    again = blot(seed=7, p=1.0)(image=image)["image"]
    other = blot(seed=8, p=1.0)(image=image)["image"]
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_transparency_sets_ink_opacity():
    image = np.full((64, 300), 200, np.uint8)
    opaque = blot(seed=3, p=1.0, count=(1, 1), transparency=(0.0, 0.0), thickness=(4, 4))(image=image)["image"]
    faint = blot(seed=3, p=1.0, count=(1, 1), transparency=(0.9, 0.9), thickness=(4, 4))(image=image)["image"]
    assert opaque.min() == 0
    # One blot: its strokes share one ink mask, so overlaps within it do not darken further.
    assert faint.min() >= round(200 * 0.9) - 1
    assert faint.min() < 200


def test_high_degree_bezier_matches_de_casteljau():
    control_points = np.random.default_rng(0).uniform(0, 100, (400, 2))
    curve = bezier_curve(control_points, num_points=7)
    expected = np.stack([de_casteljau(control_points, t) for t in np.linspace(0.01, 0.99, 7)])
    assert np.isfinite(curve).all()
    np.testing.assert_allclose(curve, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kwargs", [{"count": (3, 1)}, {"transparency": (0.1, 1.5)}, {"height": (0, 10)}])
def test_invalid_ranges_raise(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        HandwrittenBlot(**kwargs)
