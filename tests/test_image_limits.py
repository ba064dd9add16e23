"""Per-row image limits: what the pack's downscale can fix it fixes; a portrait the model still would not
accept is refused with what to do, before anything is uploaded; a row without limits takes any portrait."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from comfyui_fal_avatar.nodes.avatar import endpoints as ep
from comfyui_fal_avatar.nodes.avatar.row import ImageLimits
from comfyui_fal_avatar.nodes.errors import InputError
from comfyui_fal_avatar.nodes.longform.run import AvatarRunner
from comfyui_fal_avatar.nodes.media.image import fitted_size
from comfyui_fal_avatar.nodes.pipeline.inputs import GenerationRequest, encode_media
from comfyui_fal_avatar.nodes.services import build_services

KLING = ep.endpoint("fal-ai/kling-video/ai-avatar/v2/standard")
OMNIHUMAN = ep.endpoint("fal-ai/bytedance/omnihuman/v1.5")


def picture(width: int, height: int, *, noise: bool = False) -> np.ndarray:
    if noise:
        return np.random.default_rng(1).random((1, height, width, 3), dtype=np.float32)
    return np.full((1, height, width, 3), 0.5, np.float32)


def speech(seconds: float = 3.0) -> dict:
    import torch

    t = np.arange(int(16000 * seconds)) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    return {"waveform": torch.from_numpy(wave)[None, None], "sample_rate": 16000}


def prepare(spec, image: np.ndarray):
    request = GenerationRequest(spec, {}, image=image, audio=speech(), want_frames=False)
    return asyncio.run(AvatarRunner(request, services=build_services()).prepare())


def test_kling_states_its_limits_as_row_data_and_omnihuman_none():
    limits = KLING.image_limits
    assert (limits.min_side, limits.min_aspect, limits.max_aspect, limits.max_bytes) == (300, 0.4, 2.5, 10**7)
    assert ep.endpoint("fal-ai/kling-video/ai-avatar/v2/pro").image_limits is limits
    assert OMNIHUMAN.image_limits is None


@pytest.mark.parametrize(
    ("size", "fragment"),
    [
        (
            (200, 260),
            r"200x260; fal Kling Avatar v2 Standard .* needs at least 300 px on each side; use a larger",
        ),
        ((1400, 400), r"is 3.5:1 \(width:height\), wider than the 2.5:1 it accepts; crop it to a narrower"),
        ((400, 1400), r"is 1:3.5 \(width:height\), taller than the 1:2.5 it accepts; crop it to a wider"),
        ((5000, 1000), r"5000x1000 \(uploaded at 1280x256\); .* wider than the 2.5:1"),
    ],
)
def test_a_portrait_kling_would_refuse_is_refused_before_any_upload(size, fragment, fal_env):
    with pytest.raises(InputError, match=fragment) as refused:
        prepare(KLING, picture(*size))
    assert refused.value.field == "image" and "Kling's own avatar API" in str(refused.value)
    assert fal_env.requests == []  # nothing uploaded, nothing submitted


def test_what_the_downscale_fixes_passes_and_a_row_without_limits_takes_anything(fal_env):
    assert prepare(KLING, picture(4000, 2000)).jobs == 1  # too big to send: uploaded at 1280x640
    assert prepare(KLING, picture(300, 750)).jobs == 1  # exactly 1:2.5 and 300 px
    for size in ((200, 260), (1400, 400)):
        assert prepare(OMNIHUMAN, picture(*size)).jobs == 1  # fal states no limit for OmniHuman
    assert fal_env.requests == []


def test_a_downscale_the_user_asked_for_that_breaks_the_limit_says_which_setting(fal_env, monkeypatch):
    monkeypatch.setenv("FAL_AVATAR_MAX_IMAGE_SIDE", "400")
    with pytest.raises(
        InputError, match=r"1000x500 \(uploaded at 400x200\).*Raise FAL_AVATAR_MAX_IMAGE_SIDE \(now 400"
    ):
        prepare(KLING, picture(1000, 500))
    assert fal_env.requests == []


def test_a_rows_max_side_caps_the_downscale_even_above_the_users_setting():
    capped = dataclasses.replace(KLING, image_limits=ImageLimits("test", max_side=512))
    assert (capped.image_side(None), capped.image_side(2000), capped.image_side(300)) == (512, 512, 300)
    assert (KLING.image_side(None), KLING.image_side(2000)) == (1280, 2000)
    assert fitted_size(2048, 1024, 512) == (512, 256) and fitted_size(300, 200, 512) == (300, 200)


def test_an_upload_larger_than_the_rows_file_limit_is_refused_when_encoded_before_the_upload():
    small = dataclasses.replace(KLING, image_limits=dataclasses.replace(KLING.image_limits, max_bytes=50_000))
    request = GenerationRequest(small, {}, image=picture(320, 320, noise=True), audio=speech())
    with pytest.raises(InputError, match=r"encodes to 0.\d MB at 320x320; .* takes at most 0.05 MB"):
        encode_media(request)
    quiet = GenerationRequest(small, {}, image=picture(320, 320), audio=speech())  # a flat picture is small
    assert encode_media(quiet)["image_url"].info["width"] == 320
