"""IMAGE → PNG/JPEG payloads: exact round trip, options, warnings and bad input."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import torch
from PIL import Image

from comfyui_fal_avatar.nodes.errors import InputError
from comfyui_fal_avatar.nodes.media import encode_image, validate_image


def _levels(shape, seed=0) -> torch.Tensor:
    """Random pixels on exact 8-bit levels (k/255)."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, shape).astype(np.float32) / 255.0)


def _decode(payload) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(payload.data)))


def test_png_round_trip_is_exact_for_odd_sizes():
    image = _levels((1, 37, 53, 3))
    payload = encode_image(image)
    assert payload.content_type == "image/png" and payload.file_name.endswith(".png")
    decoded = _decode(payload)
    assert decoded.shape == (37, 53, 3)
    assert np.array_equal(decoded, (image[0].numpy() * 255).round().astype(np.uint8))
    assert payload.sha256 == hashlib.sha256(payload.data).hexdigest()
    assert payload.size == len(payload.data) and payload.path is None and payload.warnings == ()
    assert payload.info["width"] == 53 and payload.info["height"] == 37


def test_numpy_and_torch_inputs_give_identical_deterministic_bytes():
    image = _levels((1, 20, 30, 3), seed=3)
    first, second, from_numpy = encode_image(image), encode_image(image.clone()), encode_image(image.numpy())
    assert first.data == second.data == from_numpy.data
    assert first.sha256 == from_numpy.sha256 and first.sha256[:16] in first.file_name


def test_jpeg_option_is_close_to_the_source():
    yy, xx = np.mgrid[0:64, 0:64]
    smooth = np.stack([xx / 63, yy / 63, (xx + yy) / 126], -1).astype(np.float32)[None]
    payload = encode_image(torch.from_numpy(smooth), fmt="jpeg")
    assert payload.content_type == "image/jpeg" and payload.file_name.endswith(".jpg")
    decoded = _decode(payload).astype(np.float32) / 255
    assert np.abs(decoded - smooth[0]).mean() < 2 / 255


def test_batch_uses_first_image_with_warning():
    batch = _levels((3, 8, 8, 3))
    payload = encode_image(batch)
    assert np.array_equal(_decode(payload), (batch[0].numpy() * 255).round().astype(np.uint8))
    assert any("batch of 3" in w for w in payload.warnings)


def test_downscale_keeps_aspect_and_warns():
    payload = encode_image(_levels((1, 200, 400, 3)), max_side=100)
    assert _decode(payload).shape == (50, 100, 3)
    assert payload.info["source_width"] == 400 and payload.info["width"] == 100
    assert any("downscaled from 400x200 to 100x50" in w for w in payload.warnings)
    untouched = encode_image(_levels((1, 200, 400, 3)), max_side=400)
    assert _decode(untouched).shape == (200, 400, 3) and untouched.warnings == ()


def test_rgba_is_composited_over_white():
    rgba = torch.zeros((1, 4, 4, 4))
    rgba[..., 0] = 1.0  # red
    rgba[..., 3] = 1.0
    opaque = encode_image(rgba)
    assert opaque.warnings == () and (_decode(opaque) == [255, 0, 0]).all()
    rgba[0, 0, 0, 3] = 0.0  # one transparent pixel, one half transparent
    rgba[0, 0, 1, 3] = 0.5
    payload = encode_image(rgba)
    pixels = _decode(payload)
    assert pixels[0, 0].tolist() == [255, 255, 255]
    assert pixels[0, 1].tolist() == [255, 128, 128]
    assert any("composited over white" in w for w in payload.warnings)


def test_grey_image_becomes_rgb():
    grey = _levels((1, 5, 6, 1))
    pixels = _decode(encode_image(grey))
    expected = (grey[0, ..., 0].numpy() * 255).round().astype(np.uint8)
    assert pixels.shape == (5, 6, 3) and all(np.array_equal(pixels[..., c], expected) for c in range(3))


def test_out_of_range_values_are_clipped_with_warning():
    image = torch.full((1, 2, 2, 3), 0.5)
    image[0, 0, 0, 0] = 1.7
    image[0, 1, 1, 2] = -0.2
    payload = encode_image(image)
    assert _decode(payload)[0, 0, 0] == 255 and _decode(payload)[1, 1, 2] == 0
    assert any("clipped" in w for w in payload.warnings)


@pytest.mark.parametrize(
    ("image", "needle"),
    [
        (torch.zeros((0, 8, 8, 3)), "empty"),
        (torch.zeros((1, 0, 8, 3)), "zero size"),
        (torch.zeros((1, 8, 0, 3)), "zero size"),
        (torch.zeros((8, 8, 3)), "4 dimensions"),
        (torch.zeros((1, 8, 8, 2)), "2 channels"),
        (torch.zeros((1, 8, 8, 3), dtype=torch.uint8), "float"),
        (np.zeros((1, 8, 8, 5), np.float32), "5 channels"),
        ([[0.0]], "IMAGE tensor"),
    ],
)
def test_bad_shapes_are_input_errors(image, needle):
    with pytest.raises(InputError, match=needle) as err:
        encode_image(image, field="portrait")
    assert err.value.field == "portrait"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values_are_input_errors(bad):
    image = torch.full((1, 4, 4, 3), 0.5)
    image[0, 2, 2, 1] = bad
    with pytest.raises(InputError, match="NaN or infinite") as err:
        encode_image(image)
    assert err.value.field == "image"


def test_validate_image_checks_without_encoding():
    assert validate_image(torch.zeros((2, 4, 6, 3))) == (2, 4, 6, 3)
    with pytest.raises(InputError):
        validate_image(torch.zeros((0, 4, 6, 3)))


def test_unknown_format_is_a_programming_error():
    with pytest.raises(ValueError):
        encode_image(torch.zeros((1, 2, 2, 3)), fmt="gif")


def test_a_soft_mask_is_uploaded_black_and_white():
    """OmniHuman speaks where the mask is white: a feathered MASK must not reach fal as greys."""
    from comfyui_fal_avatar.nodes.media.image import mask_as_image

    ramp = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (2, 8, 1))  # [B=2, H=8, W=64], grey ramp
    image = mask_as_image(ramp)
    assert image.shape == (1, 8, 64, 3)
    assert set(np.unique(image).tolist()) == {0.0, 1.0}
    assert (image[0, :, :, 0] == (ramp[0] >= 0.5)).all()
