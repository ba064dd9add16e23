"""The emulator's serve CLI: prints its base URL as the first stdout line and serves until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import _http
import pytest

from comfyui_fal_avatar.nodes.emulator.serve import main


def test_cli_prints_url_first_and_stops_on_sigterm():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "comfyui_fal_avatar.nodes.emulator.serve",
            "--port",
            "0",
            "--key",
            "cli:key",
            "--processing-time",
            "0.1",
            "--queue-delay",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        response = _http.post(url + "/fal-ai/infinitalk", json={}, headers={"Authorization": "Key cli:key"})
        assert response.status_code == 200 and response.json()["status_url"].startswith(
            url + "/fal-ai/infinitalk/"
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert "cli:key" not in process.stderr.read()  # a chosen key is never echoed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_main_in_a_thread_with_a_stop_event(capsys):
    stop = threading.Event()
    codes: list[int] = []
    argv = ["--port", "0", "--catalogue-status", "veed/fabric-1.0=deprecated"]
    thread = threading.Thread(target=lambda: codes.append(main(argv, stop=stop)))
    thread.start()
    try:
        for _ in range(200):
            out = capsys.readouterr().out
            if out:
                break
            time.sleep(0.02)
        url = out.splitlines()[0]
        key = "emulator-key-id:emulator-key-secret"
        assert (
            _http.get(
                url + "/fal-ai/infinitalk/requests/x/status", headers={"Authorization": f"Key {key}"}
            ).status_code
            == 404
        )
        (fabric,) = _http.get(url + "/v1/models", params={"endpoint_id": "veed/fabric-1.0"}).json()["models"]
        assert fabric["metadata"]["status"] == "deprecated"
    finally:
        stop.set()
        thread.join(timeout=10)
    assert codes == [0]


def test_a_bad_catalogue_status_is_refused(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--catalogue-status", "veed/fabric-1.0=gone"])
    assert caught.value.code == 2
    assert "expected ENDPOINT=STATUS" in capsys.readouterr().err
