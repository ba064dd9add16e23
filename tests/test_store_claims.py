"""In-flight claims: one live run per request key across processes; dead owners are taken over at once."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time

from comfyui_fal_avatar.nodes.store import claims as claims_module
from comfyui_fal_avatar.nodes.store.claims import Claim, Claims, Holder, Owner

KEY = "a" * 64


def child(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


HOLD = """
    import sys, time
    from comfyui_fal_avatar.nodes.store.claims import Claims
    got = Claims().acquire(sys.argv[1])
    print(type(got).__name__, flush=True)
    time.sleep(600)
"""


def test_first_acquire_wins_and_release_frees_the_key():
    claims = Claims()
    first = claims.acquire(KEY)
    assert isinstance(first, Claim) and first.taken_from is None
    second = claims.acquire(KEY)
    assert isinstance(second, Holder) and second.owner == Owner.current()  # same process: alive, so wait
    claims.release(first)
    assert claims.holder(KEY) is None
    assert isinstance(claims.acquire(KEY), Claim)


def test_a_live_process_holds_its_claim_and_a_killed_one_is_taken_over_at_once():
    proc = child(HOLD, KEY)
    try:
        assert proc.stdout.readline().strip() == "Claim"
        holder = Claims().acquire(KEY)
        assert isinstance(holder, Holder) and holder.owner.pid == proc.pid
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    taken = Claims().acquire(KEY)
    assert isinstance(taken, Claim) and taken.taken_from is not None and taken.taken_from.pid == proc.pid


def test_an_unreaped_killed_process_counts_as_dead():
    proc = child(HOLD, KEY)
    try:
        assert proc.stdout.readline().strip() == "Claim"
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while claims_module._proc_stat(proc.pid)[0] != "Z":  # a zombie until its parent waits for it
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert isinstance(Claims().acquire(KEY), Claim)
    finally:
        proc.wait()


def test_a_reused_pid_is_not_mistaken_for_the_owner():
    me = Owner.current()
    assert me.started, "this test needs /proc"
    other = dataclasses.replace(me, pid=os.getppid(), started="1")  # a live pid, but started at another time
    assert not other.is_alive(heartbeat_at=time.time())
    assert dataclasses.replace(
        me, pid=os.getppid(), started=claims_module._proc_stat(os.getppid())[1]
    ).is_alive(0)


def test_a_rebooted_machine_owns_nothing():
    me = Owner.current()
    assert me.boot_id, "this test needs /proc"
    assert not dataclasses.replace(me, boot_id="another-boot").is_alive(heartbeat_at=time.time())


def test_another_hosts_claim_lives_while_its_heartbeat_is_fresh():
    remote = dataclasses.replace(Owner.current(), host="render-node-7", pid=1)
    now = time.time()
    assert remote.is_alive(heartbeat_at=now - 10, now=now)
    assert not remote.is_alive(heartbeat_at=now - claims_module.STALE_AFTER_S - 1, now=now)


def test_the_heartbeat_keeps_a_held_claim_fresh(monkeypatch):
    monkeypatch.setattr(claims_module, "HEARTBEAT_S", 0.05)
    # A heartbeat of its own: the process's thread may be in a 20 s sleep begun by an earlier test.
    monkeypatch.setattr(claims_module, "_HEARTBEAT", claims_module._Heartbeat())
    claims = Claims()
    claim = claims.acquire(KEY)
    with claims._db.write() as conn:
        conn.execute("UPDATE claims SET heartbeat_at = 0")
    deadline = time.monotonic() + 30
    while True:
        with claims._db.read() as conn:
            beat = conn.execute("SELECT heartbeat_at FROM claims").fetchone()[0]
        if beat > 0:
            break
        assert time.monotonic() < deadline, "no heartbeat"
        time.sleep(0.02)
    claims.release(claim)


def test_processes_racing_for_one_key_get_one_claim():
    runs = 6
    race = """
        import sys, time
        from comfyui_fal_avatar.nodes.store.claims import Claims
        start = float(sys.argv[2])
        while time.time() < start:
            pass
        print(type(Claims().acquire(sys.argv[1])).__name__, flush=True)
        time.sleep(600)  # hold it until the test has heard from every process
    """
    start = str(time.time() + 2.0)
    procs = [child(race, KEY, start) for _ in range(runs)]
    try:
        results = [p.stdout.readline().strip() for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert sorted(results) == ["Claim"] + ["Holder"] * (runs - 1), [p.stderr.read() for p in procs]


def test_a_claim_this_process_lost_track_of_is_free():
    """A claim taken in a thread whose waiting task was cancelled meanwhile (a shutdown) is not held by
    anyone in this process: it must not make the next identical run wait forever."""
    claims = Claims()
    lost = claims.acquire(KEY)
    claims_module._HEARTBEAT.discard(claims._db, lost.token)  # what a cancelled acquirer leaves behind
    again = claims.acquire(KEY)
    assert isinstance(again, Claim) and again.token != lost.token


def test_two_threads_of_one_process_racing_for_one_key_get_one_claim(monkeypatch):
    """The ComfyUI server takes claims from two threads (a prompt's node, and queue-ahead's loop). Another
    thread acquiring the key right after this one's row is written must see a live holder, never a claim
    this process lost: both would run and pay."""
    claims = Claims()
    results, raced = [], []
    real_take = claims._take

    def take_then_race(request_key, token):
        got = real_take(request_key, token)
        if not raced:  # the other thread runs right after this row is committed
            raced.append(True)
            results.append(claims.acquire(request_key))
        return got

    monkeypatch.setattr(claims, "_take", take_then_race)
    first = claims.acquire(KEY)
    (second,) = results
    assert isinstance(first, Claim) and isinstance(second, Holder) and second.token == first.token
