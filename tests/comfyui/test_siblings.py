"""Four generation nodes of one prompt in a real ComfyUI (skipped without COMFYUI_PATH).

ComfyUI v0.28.1 runs the async nodes of a prompt concurrently. When one of them fails, the executor stops
and `asyncio.run`'s shutdown cancels the others: they see CancelledError although nobody pressed Cancel.
Their fal jobs must keep running (journal entries stay `submitted`) so that the next run takes them at no
new cost; only the user's interrupt (POST /interrupt) cancels every in-flight fal job.

The emulator's job faults pick the failing job by its seed (`match=`) and hold jobs IN_PROGRESS until the
test releases them (`release=`), so "all four are generating at once" is reached, not timed: were the
nodes run one after another, the first held job would never let the second start.
"""

from __future__ import annotations

import threading
import time

import pytest
from _waiting import wait_until
from comfy_media import talking_node

from comfyui_fal_avatar.nodes.store.claims import Claims
from comfyui_fal_avatar.nodes.store.journal import Journal

pytestmark = pytest.mark.comfyui

SEEDS = (1, 2, 3, 4)
FAILING_SEED = 2
GEN = {seed: str(10 + seed) for seed in SEEDS}  # generation node id per seed
SAVE = {seed: str(20 + seed) for seed in SEEDS}  # its SaveVideo node
WAIT_S = 180  # a deadline against hangs, never a measurement


def workflow(seeds=SEEDS) -> dict:
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "fal_avatar_sample_portrait.png"}},
        "2": {"class_type": "LoadAudio", "inputs": {"audio": "fal_avatar_sample_speech.wav"}},
    }
    for seed in seeds:
        graph[GEN[seed]] = talking_node(seed)
        graph[SAVE[seed]] = {
            "class_type": "SaveVideo",
            "inputs": {
                "video": [GEN[seed], 0],
                "filename_prefix": f"fal-avatar/seed{seed}",
                "format": "mp4",
                "codec": "h264",
            },
        }
    return graph


def texts(server, node: str) -> list[str]:
    return [m.data["text"] for m in server.messages_of("progress_text") if m.data.get("node") == node]


def jobs_by_seed(emulator) -> dict[int, object]:
    return {job.arguments["seed"]: job for job in emulator.jobs.values()}


def all_generating(server, emulator, seeds=SEEDS) -> dict | None:
    """The jobs once every seed has one IN_PROGRESS and its node shows "Generating" (the node holds the
    request id by then, so it could cancel the job)."""
    jobs = jobs_by_seed(emulator)
    if not set(seeds) <= set(jobs) or any(jobs[s].state != "IN_PROGRESS" for s in seeds):
        return None
    if not all(any(t.startswith("Generating") for t in texts(server, GEN[s])) for s in seeds):
        return None
    return jobs


def journal_states() -> dict[str, str]:
    return {entry.request_id: entry.state for entry in Journal().entries()}


def no_claim_held() -> bool:
    """No request key is claimed any more (a claim left behind by a run of this server would make the next
    identical run wait for it as long as the server lives)."""
    claims = Claims()
    return all(claims.holder(entry.request_key) is None for entry in Journal().entries())


def saved_video(server, entry: dict, node: str) -> bytes:
    (saved,) = entry["outputs"][node]["images"]
    data = server.view(saved["filename"], saved.get("subfolder", ""), saved["type"])
    assert data[4:8] == b"ftyp" and len(data) > 10_000, node
    return data


def test_a_failed_node_leaves_its_siblings_jobs_running_and_the_rerun_pays_once(comfy_server, fal_env):
    fail_now, siblings_done = threading.Event(), threading.Event()
    fal_env.inject_job("runner_error", match={"seed": FAILING_SEED}, release=fail_now)
    fal_env.inject_job("slow", times=3, release=siblings_done)

    first = comfy_server.post_prompt(workflow())
    jobs = wait_until("four jobs generating at once", lambda: all_generating(comfy_server, fal_env))
    fail_now.set()  # one runner fails while the three others are still generating
    entry = comfy_server.wait_for(first, timeout=WAIT_S)  # the prompt has ended, shutdown included

    assert entry["status"]["status_str"] == "error", entry["status"]
    (error,) = comfy_server.messages_of("execution_error", first)
    assert error.data["node_id"] == GEN[FAILING_SEED], error.data
    assert "Runner disconnected" in error.data["exception_message"], error.data
    siblings = [s for s in SEEDS if s != FAILING_SEED]
    assert fal_env.count("cancel") == 0  # no cancel request reached fal
    for seed in siblings:
        assert not jobs[seed].cancelled and jobs[seed].state == "IN_PROGRESS", seed
        assert any("left running" in t for t in texts(comfy_server, GEN[seed])), texts(
            comfy_server, GEN[seed]
        )
    states = journal_states()
    assert states[jobs[FAILING_SEED].request_id] == "failed"
    assert {states[jobs[s].request_id] for s in siblings} == {"submitted"}
    assert no_claim_held()

    siblings_done.set()
    wait_until("the three jobs completed", lambda: all(jobs[s].state == "COMPLETED" for s in siblings))
    for seed in siblings:
        assert jobs[seed].error is None and not jobs[seed].cancelled, seed
    assert fal_env.count("cancel") == 0

    # The same prompt again: the failed seed is submitted anew (its fault is used up), the three finished
    # jobs are taken at no new cost.
    submits = fal_env.count("submit")
    started = time.monotonic()
    second = comfy_server.post_prompt(workflow())
    entry = comfy_server.wait_for(second, timeout=WAIT_S)
    wall = time.monotonic() - started
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert fal_env.count("submit") - submits == 1
    assert (submits, fal_env.count("cancel")) == (4, 0)
    for seed in SEEDS:
        saved_video(comfy_server, entry, SAVE[seed])
    for seed in siblings:
        done = [t for t in texts(comfy_server, GEN[seed]) if t.startswith("Done")]
        assert done and "reused, no new charge" in done[-1], texts(comfy_server, GEN[seed])
    states = journal_states()
    assert {states[jobs[s].request_id] for s in siblings} == {"downloaded"}
    assert sorted(states.values()) == ["downloaded"] * 4 + ["failed"]
    print(f"\nre-run of the 4-node prompt: {wall:.1f} s wall, 1 new submit, 3 re-attached")


def test_user_interrupt_cancels_every_in_flight_job(comfy_server, fal_env):
    """fal answers three of the four cancels a second late: the first node to stop must not let the
    executor's shutdown cut the three others short (their cancels journaled, their claims given back)."""
    fal_env.inject_job(
        "slow", times=4, release=threading.Event()
    )  # never released: generating until cancelled
    fal_env.inject("cancel", "hang", times=3, seconds=1.0)  # each takes effect at once, answered 1 s later

    prompt_id = comfy_server.post_prompt(workflow())
    jobs = wait_until("four jobs generating at once", lambda: all_generating(comfy_server, fal_env))
    comfy_server.interrupt()
    entry = comfy_server.wait_for(prompt_id, timeout=WAIT_S)

    assert entry["status"]["status_str"] == "error", entry["status"]
    assert comfy_server.messages_of("execution_interrupted", prompt_id)
    assert fal_env.count("cancel") == 4
    assert all(job.cancelled for job in jobs.values())
    assert sorted(journal_states().values()) == ["cancelled"] * 4
    assert no_claim_held()
    for seed in SEEDS:
        assert any(t.startswith("Cancelled") for t in texts(comfy_server, GEN[seed])), texts(
            comfy_server, GEN[seed]
        )


def test_user_interrupt_while_another_node_downloads_cancels_the_generating_jobs(comfy_server, fal_env):
    """Core's progress hook raises, and clears, the interrupt flag in whichever node reports progress first
    (here the one downloading its result); the three generating nodes must still cancel their fal jobs."""
    for seed in (1, 2, 3):
        fal_env.inject_job("slow", match={"seed": seed}, release=threading.Event())
    fal_env.inject("file_get", "slow", times=20, bytes_per_s=20_000)  # seed 4 downloads its result slowly

    def downloading():
        return all_generating(comfy_server, fal_env, (1, 2, 3)) and any(
            t.startswith("Downloading") and "KB" in t for t in texts(comfy_server, GEN[4])
        )

    prompt_id = comfy_server.post_prompt(workflow())
    wait_until("seed 4 downloading while the others generate", downloading)
    comfy_server.interrupt()
    entry = comfy_server.wait_for(prompt_id, timeout=WAIT_S)

    assert entry["status"]["status_str"] == "error", entry["status"]
    assert comfy_server.messages_of("execution_interrupted", prompt_id)
    jobs = jobs_by_seed(fal_env)
    assert fal_env.count("cancel") == 3 and all(jobs[s].cancelled for s in (1, 2, 3))
    states = journal_states()
    assert [states[jobs[s].request_id] for s in SEEDS] == ["cancelled"] * 3 + ["completed"]
    assert no_claim_held()


def test_four_nodes_generate_concurrently(comfy_server, fal_env):
    """Measurement (printed, not asserted against a clock): wall time of a 4-node prompt against the time
    each fal job spends generating."""
    job_s = 4.0
    fal_env.inject_job("slow", times=4, processing_time=job_s)
    started = time.monotonic()
    prompt_id = comfy_server.post_prompt(workflow())
    entry = comfy_server.wait_for(prompt_id, timeout=WAIT_S)
    wall = time.monotonic() - started

    assert entry["status"]["status_str"] == "success", entry["status"]
    assert (fal_env.count("submit"), fal_env.count("cancel")) == (4, 0)
    for seed in SEEDS:
        saved_video(comfy_server, entry, SAVE[seed])
    jobs = sorted(fal_env.jobs.values(), key=lambda job: job.started_at)
    spans = [job.completed_at - job.started_at for job in jobs]
    overlap = min(job.completed_at for job in jobs) - max(job.started_at for job in jobs)
    submit_spread = max(job.submitted_at for job in jobs) - min(job.submitted_at for job in jobs)
    print(
        f"\n4-node prompt: {wall:.1f} s wall; each job generating {min(spans):.1f}-{max(spans):.1f} s "
        f"(sum {sum(spans):.1f} s); all four generating at once for {overlap:.1f} s; submits spread over "
        f"{submit_spread:.1f} s"
    )
