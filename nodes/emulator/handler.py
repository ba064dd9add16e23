"""HTTP plumbing: a ThreadingHTTPServer (HTTP/1.1 keep-alive) that parses requests, applies injected HTTP
faults, records every request and writes the Api's responses (plain, streamed, throttled, truncated or
damaged)."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from .api import Api, Request, Response, damaged_response, fault_response
from .faults import Fault, FaultPlan
from .recorder import RecordedRequest, RequestLog
from .routes import classify

if TYPE_CHECKING:
    from .jobs import JobQueue


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Tracks open connections so stop() can cut idle keep-alives (no request lands on a stopped emulator)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], api: Api, faults: FaultPlan, log: RequestLog, jobs: JobQueue
    ):
        self.api, self.faults, self.log, self.jobs = api, faults, log, jobs
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, EmulatorRequestHandler)

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def shutdown(self) -> None:
        """Stop ``serve_forever`` now: it notices the request only when its wait (``poll_interval``) ends,
        so connections wake that wait until the loop has stopped."""
        stopper = threading.Thread(target=super().shutdown, name="fal-emulator-shutdown")
        stopper.start()
        while stopper.is_alive():
            try:
                socket.create_connection(self.server_address[:2], timeout=1).close()
            except OSError:
                pass
            stopper.join(0.01)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls
    server: EmulatorHTTPServer
    server_version = "fal-emulator"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._handle()

    do_POST = do_PUT = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = do_GET  # noqa: N815

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - silence per-request stderr lines
        return

    def _handle(self) -> None:
        server = self.server
        parts = urlsplit(self.path)
        path = unquote(parts.path) or "/"
        query_lists = parse_qs(parts.query, keep_blank_values=True)
        query = {k: v[-1] for k, v in query_lists.items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = self._read_body(headers)
        if body is None:
            return
        req = Request(self.command, path, query, headers, body, classify(self.command, path), query_lists)
        fault = server.faults.take(req.route.name)

        def record(status: int | None) -> None:
            server.log.add(RecordedRequest(self.command, path, query, headers, req.route.name, status, body))

        if fault is not None and fault.name == "drop_before":
            record(None)
            self.close_connection = True
            return
        response = (fault_response(fault, req) if fault is not None else None) or server.api.handle(req)
        if fault is not None and fault.name == "damaged":
            response = damaged_response(fault, response)
        if fault is not None and fault.name == "drop":
            record(None)
            self.close_connection = True
            return
        record(response.status)
        if fault is not None and fault.name == "hang":  # the request took effect; its answer is late
            self._hang(float(fault.params.get("seconds", 30)))
        try:
            self._send(response, fault)
        except (
            BrokenPipeError,
            ConnectionResetError,
        ):  # the client went away (e.g. killed): nothing to answer
            self.close_connection = True

    def _read_body(self, headers: dict[str, str]) -> bytes | None:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        try:
            length = int(headers.get("content-length", "0") or 0)
        except ValueError:
            self.send_error(400, "Bad Content-Length")
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: Response, fault: Fault | None) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if fault is not None and fault.name == "endless":
            self.send_header("connection", "close")
            self.end_headers()
            self.close_connection = True
            self._write_endless()
            return
        if response.stream is not None:
            self.send_header("connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                response.stream(self._write_flush)
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass
            return
        self.send_header("content-length", str(len(response.body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        data = response.body
        try:
            if fault is not None and fault.name == "truncate":
                cut = int(len(data) * float(fault.params.get("fraction", 0.5)))
                self._write_flush(data[:cut])
                self.close_connection = True
            elif fault is not None and fault.name == "slow":
                self._write_slowly(data, float(fault.params.get("bytes_per_s", 65536)))
            else:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write_endless(self) -> None:
        """An endless JSON string, as fast as the client reads (until it hangs up or the emulator stops)."""
        self._write_flush(b'{"padding": "')
        chunk = b"x" * 65536
        while not self.server.jobs.stopping:
            self._write_flush(chunk)

    def _hang(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.server.jobs.stopping:
            time.sleep(0.05)

    def _write_flush(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _write_slowly(self, data: bytes, bytes_per_s: float) -> None:
        step = max(int(bytes_per_s / 20), 1)
        start = time.monotonic()
        for offset in range(0, len(data), step):
            if self.server.jobs.stopping:
                self.close_connection = True
                return
            self._write_flush(data[offset : offset + step])
            delay = start + (offset + step) / bytes_per_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
