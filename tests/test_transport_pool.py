"""The per-loop connection pool: it does not keep clients (and sockets) of finished loops (ComfyUI runs every
prompt in a new asyncio loop, so a leak here would grow for the life of the server), and waiting jobs' status
streams never take the connections the other calls need."""

from __future__ import annotations

import asyncio
import gc

from comfyui_fal_avatar.nodes.fal import FalClient
from comfyui_fal_avatar.nodes.fal.pool import SHARED_POOL, ClientPool, PerLoop, StreamSlots
from comfyui_fal_avatar.nodes.settings import WaitLimits


def test_clients_of_finished_loops_are_dropped(emulator):
    pool = ClientPool()  # real connections: an open connection references its loop

    async def one_prompt() -> None:
        response = await pool.client().get(f"{emulator.base_url}/files/none")
        assert response.status_code == 404

    for _ in range(6):
        asyncio.run(one_prompt())
    gc.collect()
    assert len(pool._clients._values) <= 1  # at most the last loop's, dropped on the next use

    async def same_loop_reuses() -> bool:
        return pool.client() is pool.client()

    assert asyncio.run(same_loop_reuses())


def test_the_clients_of_every_loop_share_one_tls_context_that_verifies(monkeypatch):
    """Each ComfyUI prompt (a new loop) gets a new client; each built a TLS context of its own, loading the CA
    bundle again (about 30 ms of CPU). The one shared context still checks certificates and host names, and
    is built with trust_env (SSL_CERT_FILE, SSL_CERT_DIR)."""
    import ssl

    import httpx

    from comfyui_fal_avatar.nodes.fal import pool as pool_module

    built: list[dict] = []
    real = httpx.create_ssl_context
    monkeypatch.setattr(httpx, "create_ssl_context", lambda **kw: built.append(kw) or real(**kw))
    pool_module.tls_context.cache_clear()
    pool = ClientPool()

    async def one_prompt() -> ssl.SSLContext:
        return pool.client()._transport._pool._ssl_context  # httpx's transport, httpcore's pool

    contexts = [asyncio.run(one_prompt()) for _ in range(3)]
    context = pool_module.tls_context()
    pool_module.tls_context.cache_clear()  # later tests build theirs with httpx's own function
    assert all(c is context for c in contexts) and len(built) == 1 and built[0]["trust_env"] is True
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


ENDPOINT = "fal-ai/infinitalk"


def _arguments(seed: int) -> dict:
    from comfyui_fal_avatar.nodes.emulator.samples import data_uri, sample_png, sample_wav

    return {
        "image_url": data_uri(sample_png(64, 64), "image/png"),
        "audio_url": data_uri(sample_wav(1.0), "audio/wav"),
        "prompt": "p",
        "num_frames": 41,
        "seed": seed,
    }


def test_waiters_beyond_the_stream_budget_poll(fal_env, monkeypatch):
    monkeypatch.setattr(SHARED_POOL, "_streams", PerLoop(lambda: StreamSlots(2)))

    async def go() -> int:
        client = FalClient()
        handles = [await client.submit(ENDPOINT, _arguments(i)) for i in range(4)]
        await asyncio.gather(*(client.wait(h) for h in handles))
        return SHARED_POOL.stream_slots().open

    assert asyncio.run(go()) == 0  # every slot given back
    assert fal_env.count("status_stream") == 2 and fal_env.count("status") >= 2


def test_64_open_streams_leave_connections_for_every_other_call(fal_env):
    """64 jobs waiting (a batch at --concurrency 64) each hold a stream; the next steps' calls (a status, a
    submit) still get a connection at once instead of queueing behind the streams."""
    fal_env.inject_job("slow", times=65, processing_time=300)

    async def go() -> tuple[str, int, int, str]:
        client = FalClient(limits=WaitLimits(queue_wait_s=None, processing_s=None))
        handles = await asyncio.gather(*(client.submit(ENDPOINT, _arguments(i)) for i in range(64)))
        waits = [asyncio.ensure_future(client.wait(h)) for h in handles]
        while fal_env.count("status_stream") < 64:
            await asyncio.sleep(0.05)
        status = await client.status(handles[0])
        extra = await client.submit(ENDPOINT, _arguments(64))
        open_streams = SHARED_POOL.stream_slots().open
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        return status.state, open_streams, SHARED_POOL.stream_slots().open, extra.request_id

    async def guarded():
        return await asyncio.wait_for(go(), 120)  # a hang guard: with too small a pool this never finishes

    state, open_streams, after, _ = asyncio.run(guarded())
    assert state == "IN_PROGRESS" and open_streams == 64 and after == 0
    assert fal_env.count("status_stream") == 64
