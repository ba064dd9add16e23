"""The request key: what makes two fal requests "the same" (and the second one free).

sha256 over the endpoint id, the canonical JSON of the normalised arguments with every uploaded file
field replaced by a digest of its content (an upload URL changes on every upload; the content does not),
and the seed. Version 2 (:func:`input_request_key`, used for every new request) digests the inputs as the
user gave them (tensor values, samples, source file bytes; see ``media/digest.py``), so a re-run computes
its key without encoding anything. Version 1 (:func:`request_key`) digested the encoded upload bytes;
it is still computed once a run has encoded its uploads, so results journaled under it stay reusable.
Canonical means sorted keys, no whitespace, UTF-8; normalised means integral floats are ints (``5 == 5.0``),
tuples are lists, ``None``-valued fields are dropped (fal treats them as absent) and numpy-style numbers are
plain numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Mapping
from typing import Any

KEY_VERSION = "fal-avatar/request-key/v1"
INPUT_KEY_VERSION = "fal-avatar/request-key/v2"


def request_key(
    endpoint_id: str, arguments: Mapping[str, Any], file_hashes: Mapping[str, str], seed: int | None
) -> str:
    """Version 1: ``file_hashes`` maps top-level argument names to the sha256 of the uploaded bytes."""
    return _key(KEY_VERSION, "files", endpoint_id, arguments, file_hashes, seed)


def input_request_key(
    endpoint_id: str, arguments: Mapping[str, Any], input_digests: Mapping[str, str], seed: int | None
) -> str:
    """Version 2: ``input_digests`` maps top-level argument names to digests of the inputs as given."""
    return _key(INPUT_KEY_VERSION, "inputs", endpoint_id, arguments, input_digests, seed)


def _key(
    version: str,
    digest_field: str,
    endpoint_id: str,
    arguments: Mapping[str, Any],
    digests: Mapping[str, str],
    seed: int | None,
) -> str:
    plain = {name: value for name, value in arguments.items() if name not in digests}
    payload = {
        "version": version,
        "endpoint_id": endpoint_id,
        "arguments": _normalise(plain),
        digest_field: {str(name): digest.lower() for name, digest in digests.items()},
        "seed": _normalise(seed),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _normalise(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"request arguments must be finite numbers (got {number})")
        return int(number) if number.is_integer() else number
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    raise TypeError(f"request arguments must be JSON values (got {type(value).__name__})")
