"""The per-loop connection pool does not keep clients (and sockets) of finished loops: ComfyUI runs every
prompt in a new asyncio loop, so a leak here would grow for the life of the server."""

from __future__ import annotations

import asyncio
import gc

from comfyui_fal_avatar.nodes.fal.pool import ClientPool


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
