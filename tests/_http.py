"""httpx for tests that call the emulator directly, with the pack's one TLS context: ``httpx.get`` and every
new ``httpx.Client`` load the CA bundle again, about 27 ms of CPU each (a few hundred times in the suite)."""

from __future__ import annotations

import httpx

from comfyui_fal_avatar.nodes.fal.pool import tls_context


def client(**kwargs) -> httpx.Client:
    return httpx.Client(verify=tls_context(), **kwargs)


def request(method: str, url: str, **kwargs) -> httpx.Response:
    with client() as http:
        return http.request(method, url, **kwargs)


def get(url: str, **kwargs) -> httpx.Response:
    return request("GET", url, **kwargs)


def post(url: str, **kwargs) -> httpx.Response:
    return request("POST", url, **kwargs)
