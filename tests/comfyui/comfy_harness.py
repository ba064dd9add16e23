"""A real ComfyUI server in a subprocess, and a small client for it (stdlib only).

`ComfyServer` starts `main.py` on 127.0.0.1 with everything that ComfyUI writes (input, output, temp, user,
database) inside a temporary base directory, and loads this pack through an extra-model-paths YAML whose
`custom_nodes` folder holds a symlink `comfyui-fal-avatar` -> the repository root. `ComfyClient` queues
API-format prompts, waits on /history, interrupts, reads /object_info, and keeps a websocket listener
(`WebSocketListener`, a minimal RFC 6455 client) that records every message the server sends.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comfyui_fal_avatar.nodes.avatar.endpoints import GENERATION_ENDPOINTS

PACK_FOLDER = "comfyui-fal-avatar"
# The pack's node ids (fixed: saved workflows reference them): one per endpoint row, and Fetch Result.
NODE_IDS = (*(spec.node_id for spec in GENERATION_ENDPOINTS), "FalAvatarFetchResult")
REPO_ROOT = Path(__file__).resolve().parents[2]
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_BINARY_TEXT_EVENT = 3  # protocol.BinaryEventTypes.TEXT: send_progress_text frames
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, never a proxy


class PromptRejected(Exception):
    """POST /prompt answered with an error (validation failed); `body` holds `error` and `node_errors`."""

    def __init__(self, status: int, body: dict):
        super().__init__(f"POST /prompt -> {status}: {json.dumps(body)[:2000]}")
        self.status = status
        self.body = body


@dataclass
class WsMessage:
    """One websocket message. JSON frames keep their `type`/`data`; binary send_progress_text frames become
    type "progress_text" with data {"node", "text"}; other binary frames type "binary" {"event", "size"}."""

    type: str
    data: Any
    received_at: float = field(default_factory=time.monotonic)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parse_binary(payload: bytes) -> WsMessage:
    (event,) = struct.unpack(">I", payload[:4])
    if event == _BINARY_TEXT_EVENT and len(payload) >= 8:
        (id_len,) = struct.unpack(">I", payload[4:8])
        node = payload[8 : 8 + id_len].decode("utf-8")
        text = payload[8 + id_len :].decode("utf-8", errors="replace")
        return WsMessage("progress_text", {"node": node, "text": text})
    return WsMessage("binary", {"event": event, "size": len(payload) - 4})


class WebSocketListener:
    """Connects to ws://host:port/ws?clientId=... and records messages in a background thread."""

    def __init__(self, host: str, port: int, client_id: str):
        self.host, self.port, self.client_id = host, port, client_id
        self.messages: list[WsMessage] = []
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._send_lock = threading.Lock()

    def start(self, timeout: float = 10.0) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        query = urllib.parse.urlencode({"clientId": self.client_id})
        request = (
            f"GET /ws?{query} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        sock.sendall(request.encode())
        head, rest = self._read_handshake(sock)
        expected = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        if not head.startswith("HTTP/1.1 101") or expected not in head:
            sock.close()
            raise ConnectionError(
                f"websocket handshake refused: {head.splitlines()[0] if head else '<empty>'}"
            )
        sock.settimeout(None)
        self._sock = sock
        self._thread = threading.Thread(target=self._run, args=(rest,), name="comfy-ws", daemon=True)
        self._thread.start()
        # The server greets every new socket with a "status" message carrying the session id.
        self.wait_for(lambda m: m.type == "status", timeout=timeout)

    @staticmethod
    def _read_handshake(sock: socket.socket) -> tuple[str, bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        return head.decode("latin-1"), rest

    def _run(self, buffered: bytes) -> None:
        reader = _FrameReader(self._sock, buffered)
        fragments: list[bytes] = []
        first_opcode = 0
        try:
            while True:
                fin, opcode, payload = reader.next_frame()
                if opcode == 0x8:  # close
                    self._send_frame(0x8, payload[:2])
                    return
                if opcode == 0x9:  # ping
                    self._send_frame(0xA, payload)
                    continue
                if opcode == 0xA:  # pong
                    continue
                if opcode != 0x0:
                    first_opcode, fragments = opcode, []
                fragments.append(payload)
                if not fin:
                    continue
                whole = b"".join(fragments)
                if first_opcode == 0x1:
                    obj = json.loads(whole.decode("utf-8"))
                    message = WsMessage(obj.get("type", ""), obj.get("data"))
                else:
                    message = _parse_binary(whole)
                with self._cond:
                    self.messages.append(message)
                    self._cond.notify_all()
        except (OSError, EOFError) as exc:
            if self._sock is not None:
                self.error = exc
        finally:
            with self._cond:
                self._cond.notify_all()

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        with self._send_lock:
            if self._sock is not None:
                self._sock.sendall(header + mask + masked)

    def send_json(self, obj: dict) -> None:
        self._send_frame(0x1, json.dumps(obj).encode("utf-8"))

    def snapshot(self) -> list[WsMessage]:
        with self._cond:
            return list(self.messages)

    def wait_for(self, predicate: Callable[[WsMessage], bool], timeout: float = 60.0) -> WsMessage:
        """Return the first recorded message (old or new) matching `predicate`."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for message in self.messages[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.messages)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._thread is not None and not self._thread.is_alive()):
                    raise TimeoutError(
                        f"no matching websocket message within {timeout} s (error: {self.error})"
                    )
                self._cond.wait(remaining)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            with self._send_lock:
                sock.sendall(bytes([0x88, 0x80]) + os.urandom(4))  # masked close, empty payload
        except OSError:
            pass
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _FrameReader:
    def __init__(self, sock: socket.socket, buffered: bytes):
        self._sock = sock
        self._buf = bytearray(buffered)

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise EOFError("websocket closed")
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def next_frame(self) -> tuple[bool, int, bytes]:
        b0, b1 = self._read(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", self._read(8))
        mask = self._read(4) if b1 & 0x80 else None
        payload = self._read(length)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bool(b0 & 0x80), b0 & 0x0F, payload


class ComfyClient:
    """HTTP + websocket client of one running ComfyUI server."""

    def __init__(self, base_url: str, log_path: Path, base_dir: Path):
        self.base_url = base_url
        self.log_path = log_path
        self.base_dir = base_dir  # ComfyUI --base-directory: input/, output/, temp/, user/
        self.client_id = uuid.uuid4().hex
        parsed = urllib.parse.urlsplit(base_url)
        self.ws = WebSocketListener(parsed.hostname, parsed.port, self.client_id)

    # -- plain HTTP -------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def get_json(self, path: str) -> Any:
        status, raw = self.request("GET", path)
        if status != 200:
            raise AssertionError(f"GET {path} -> {status}: {raw[:500]!r}")
        return json.loads(raw)

    def object_info(self, node_class: str | None = None) -> dict:
        return self.get_json("/object_info" + (f"/{urllib.parse.quote(node_class)}" if node_class else ""))

    def view(self, filename: str, subfolder: str = "", type: str = "output") -> bytes:
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": type})
        status, raw = self.request("GET", f"/view?{query}")
        if status != 200:
            raise AssertionError(f"GET /view?{query} -> {status}")
        return raw

    # -- prompts ----------------------------------------------------------------------------------------
    def post_prompt(self, api_workflow: dict, *, extra_data: dict | None = None) -> str:
        """Queue an API-format workflow for this client's websocket session; return the prompt id.
        Raises PromptRejected when ComfyUI's validation refuses it (400 with node_errors)."""
        body: dict[str, Any] = {"prompt": api_workflow, "client_id": self.client_id}
        if extra_data:
            body["extra_data"] = extra_data
        status, raw = self.request("POST", "/prompt", body)
        answer = json.loads(raw) if raw else {}
        if status != 200:
            raise PromptRejected(status, answer)
        return answer["prompt_id"]

    def history(self, prompt_id: str) -> dict | None:
        return self.get_json(f"/history/{prompt_id}").get(prompt_id)

    def wait_for(self, prompt_id: str, timeout: float = 120.0) -> dict:
        """Poll /history until the prompt has finished (success, error or interrupt); return its entry
        ({"prompt", "outputs", "status": {"status_str", "completed", "messages"}, "meta"}).

        Also waits for the prompt's last websocket message ("executing" with node None, sent after the
        history is stored): /history can answer before the socket has delivered the prompt's messages, and
        the server sends them in order, so once this one is here every message of the prompt is."""
        deadline = time.monotonic() + timeout
        while True:
            entry = self.history(prompt_id)
            if entry is not None and entry.get("status", {}).get("status_str") in ("success", "error"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"prompt {prompt_id} not finished within {timeout} s\n{self.log_tail()}")
            time.sleep(0.1)
        self.wait_for_message(
            lambda m: (
                m.type == "executing"
                and isinstance(m.data, dict)
                and m.data.get("node") is None
                and m.data.get("prompt_id") == prompt_id
            ),
            timeout=max(deadline - time.monotonic(), 30.0),
        )
        return entry

    def interrupt(self, prompt_id: str | None = None) -> None:
        status, raw = self.request("POST", "/interrupt", {"prompt_id": prompt_id} if prompt_id else {})
        if status != 200:
            raise AssertionError(f"POST /interrupt -> {status}: {raw[:200]!r}")

    # -- websocket --------------------------------------------------------------------------------------
    @property
    def messages(self) -> list[WsMessage]:
        return self.ws.snapshot()

    def messages_of(self, type: str, prompt_id: str | None = None) -> list[WsMessage]:
        return [
            m
            for m in self.messages
            if m.type == type
            and (prompt_id is None or (isinstance(m.data, dict) and m.data.get("prompt_id") == prompt_id))
        ]

    def wait_for_message(self, predicate: Callable[[WsMessage], bool], timeout: float = 60.0) -> WsMessage:
        return self.ws.wait_for(predicate, timeout)

    # -- diagnostics ------------------------------------------------------------------------------------
    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class ComfyServer:
    """Starts ComfyUI (`python main.py --cpu --listen 127.0.0.1 ...`) and stops it."""

    def __init__(self, comfyui_path: Path, python: str, work_dir: Path, env: dict[str, str]):
        self.comfyui_path = comfyui_path
        self.python = python
        self.work_dir = work_dir
        self.env = env
        self.base_dir = work_dir / "comfyui-base"
        self.log_path = work_dir / "comfyui.log"
        self.process: subprocess.Popen | None = None
        self.port: int | None = None

    def _prepare(self) -> Path:
        (self.base_dir / "custom_nodes").mkdir(parents=True, exist_ok=True)  # main.py lists it at start-up
        nodes_dir = self.work_dir / "custom_nodes"
        nodes_dir.mkdir(exist_ok=True)
        link = nodes_dir / PACK_FOLDER
        if not link.is_symlink():
            link.symlink_to(REPO_ROOT, target_is_directory=True)
        config = self.work_dir / "extra_model_paths.yaml"
        # A JSON string is a valid YAML double-quoted scalar, so any path is safe here.
        config.write_text(
            f"fal_avatar_tests:\n    custom_nodes: {json.dumps(str(nodes_dir))}\n", encoding="utf-8"
        )
        return config

    def _command(self, config: Path, port: int) -> list[str]:
        return [
            self.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
            "--extra-model-paths-config", str(config),
            "--base-directory", str(self.base_dir),
            "--database-url", "sqlite:///:memory:",
            "--disable-auto-launch",
        ]  # fmt: skip

    def start(self, timeout: float) -> ComfyClient:
        config = self._prepare()
        for _attempt in range(3):
            self.port = free_port()
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(  # noqa: S603 - fixed argv, loopback only
                    self._command(config, self.port),
                    cwd=self.comfyui_path,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            client = ComfyClient(f"http://127.0.0.1:{self.port}", self.log_path, self.base_dir)
            if self._wait_ready(client, timeout):
                try:
                    client.ws.start()
                except BaseException:
                    self.stop()
                    raise
                return client
            if "already in use" not in client.log_text():
                break
        self.stop()
        raise RuntimeError(
            f"ComfyUI did not start with {self.python} (COMFYUI_PYTHON must be a Python that has ComfyUI's "
            f"requirements).\n--- log tail ---\n{client.log_tail()}"
        )

    def _wait_ready(self, client: ComfyClient, timeout: float) -> bool:
        """Wait until this server answers. Its own log line for the port must be there first: with several
        test sessions on one machine, another ComfyUI may take the port between ``free_port`` and our bind,
        and would otherwise answer in our server's place."""
        deadline = time.monotonic() + timeout
        listening = f"To see the GUI go to: http://127.0.0.1:{self.port}"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if listening not in client.log_text():
                time.sleep(0.2)
                continue
            try:
                status, _ = client.request("GET", "/system_stats", timeout=2)
                if status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def child_environment(overrides: dict[str, str]) -> dict[str, str]:
    """The server's environment: this process's (with the test's FAL_* settings) plus `overrides`.

    Byte-code goes to a shared cache outside the source trees (PYTHONPYCACHEPREFIX), so only the first
    start pays for compiling ComfyUI; set COMFYUI_PYCACHE_PREFIX to choose that folder."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.environ.get("COMFYUI_PYCACHE_PREFIX") or str(
        Path(tempfile.gettempdir()) / "comfyui-fal-avatar-pycache"
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env
