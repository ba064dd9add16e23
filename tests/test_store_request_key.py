"""The request key: stable for the same request, different for any change that fal would see."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from comfyui_fal_avatar.nodes.store.request_key import request_key

ENDPOINT = "fal-ai/infinitalk"
ARGS = {
    "image_url": "https://v3.fal.media/files/a/face.png",
    "audio_url": "https://v3.fal.media/files/b/voice.wav",
    "prompt": "A woman talking",
    "num_frames": 145,
    "resolution": "480p",
    "guidance": 5.0,
    "loras": [{"path": "x", "scale": 0.5}],
}
HASHES = {"image_url": "a" * 64, "audio_url": "b" * 64}


def key(arguments=None, hashes=None, seed=42, endpoint=ENDPOINT) -> str:
    return request_key(
        endpoint, ARGS if arguments is None else arguments, HASHES if hashes is None else hashes, seed
    )


def test_is_the_sha256_of_the_documented_canonical_json():
    # A change here re-keys every stored result (users would pay again): bump KEY_VERSION deliberately.
    canonical = (
        '{"arguments":{"a":"é","b":2},"endpoint_id":"fal-ai/x","files":{"img":"ab"},'
        '"seed":7,"version":"fal-avatar/request-key/v1"}'
    )
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert (
        request_key("fal-ai/x", {"b": 2.0, "a": "é", "img": "https://u/1.png"}, {"img": "AB"}, 7) == expected
    )
    assert key() == "5a15a2e05a11214e1ec8f497398158ed6c2332a7a628cbffb1534a306e5af999"


def test_stable_across_dict_order_number_spelling_and_containers():
    reordered = {k: ARGS[k] for k in reversed(list(ARGS))}
    reordered["guidance"] = 5  # 5 == 5.0
    reordered["num_frames"] = 145.0
    reordered["loras"] = ({"scale": 0.5, "path": "x"},)  # tuple, other key order
    assert key(reordered, {"audio_url": "B" * 64, "image_url": "A" * 64}) == key()


def test_numpy_numbers_equal_python_numbers():
    args = dict(ARGS, num_frames=np.int64(145), guidance=np.float32(5.0))
    assert key(args, seed=np.int64(42)) == key()


def test_none_valued_fields_count_as_absent():
    assert key(dict(ARGS, negative_prompt=None)) == key()


def test_uploaded_file_urls_do_not_matter_only_their_content():
    fresh_upload = dict(ARGS, image_url="https://v3b.fal.media/files/zz/other-name.png")
    assert key(fresh_upload) == key()
    without_urls = {k: v for k, v in ARGS.items() if k not in HASHES}
    assert key(without_urls) == key()


@pytest.mark.parametrize(
    "change",
    [
        {"prompt": "A man talking"},
        {"num_frames": 146},
        {"guidance": 5.5},
        {"resolution": "720p"},
        {"loras": [{"path": "x", "scale": 0.6}]},
        {"extra": 1},
        {"num_frames": True},  # a bool is not the number 1
    ],
)
def test_any_argument_change_changes_the_key(change):
    assert key(dict(ARGS, **change)) != key()


def test_dropping_an_argument_changes_the_key():
    assert key({k: v for k, v in ARGS.items() if k != "prompt"}) != key()


@pytest.mark.parametrize("field", sorted(HASHES))
def test_file_content_change_changes_the_key(field):
    assert key(hashes=dict(HASHES, **{field: "c" * 64})) != key()


def test_a_file_moved_to_another_field_changes_the_key():
    assert key(hashes={"image_url": "b" * 64, "audio_url": "a" * 64}) != key()


def test_seed_and_endpoint_change_the_key():
    assert len({key(seed=42), key(seed=43), key(seed=None), key(seed=0)}) == 4
    assert key(endpoint="fal-ai/infinitalk/single-text") != key()


def test_non_json_values_are_refused():
    with pytest.raises(ValueError, match="finite"):
        key(dict(ARGS, guidance=float("nan")))
    with pytest.raises(TypeError, match="JSON"):
        key(dict(ARGS, prompt=object()))


def test_same_key_in_another_process_with_other_hash_seed():
    code = (
        "from comfyui_fal_avatar.nodes.store.request_key import request_key\n"
        f"print(request_key({ENDPOINT!r}, {ARGS!r}, {HASHES!r}, 42))\n"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert keys == {key()}
