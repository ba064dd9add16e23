"""The web extension in headless Chromium against a real ComfyUI and the fal emulator.

Skipped unless COMFYUI_PATH is set (see conftest.py) and a `chromium` binary is installed (Debian package
`chromium`; CHROMIUM=/path overrides). Chromium is driven over the DevTools protocol with a minimal stdlib
WebSocket client, and its DNS resolves nothing but 127.0.0.1, so the page cannot reach the internet.

One ComfyUI start and one browser tab serve every check (a start costs 10-20 s); each check is its own
test, so one failure hides none of the others:
  - the extension registers without console errors from its files or routes, and every node of the pack
    exists;
  - an example workflow loads, its status area shows the cost estimate from the length of the LoadAudio file
    (measured by the server before any run), and the estimate follows the widgets;
  - the workflow runs: phase, request id (with copy button) and the estimate from the real frame count show
    on the node, and the video preview appears; a screenshot is written (FAL_AVATAR_SCREENSHOT_DIR keeps it);
  - the settings panel sends a key to the server and ComfyUI's settings storage never holds it;
  - a 75 s WAV in the input folder gives the whole long run's estimate (about 3 segments); above the spend
    limit the node says the run will be refused; the spend limit is saved on the server from the settings
    panel (and back to the default), and the node's warning follows it;
  - a long run's status (a synthetic event): the combined segments line, then "3 segments" with a copy
    button that copies the whole segment list;
  - "Check fal endpoints" shows the server's doctor report (all ok, then a drifted emulator document),
    never the key, and the OpenAPI requests carry no key;
  - with the key route answering "not configured", the nodes warn and their Settings button opens settings.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from comfy_harness import NODE_IDS, PACK_FOLDER, REPO_ROOT, ComfyClient, ComfyServer, child_environment

from comfyui_fal_avatar.nodes.avatar.endpoints import GENERATION_ENDPOINTS
from comfyui_fal_avatar.nodes.credentials import KEY_FILE_NAME
from comfyui_fal_avatar.nodes.emulator import FalEmulator
from comfyui_fal_avatar.nodes.spend_guard import SETTINGS_FILE_NAME

# one worker runs the module's checks: they share one ComfyUI and one browser tab
pytestmark = [pytest.mark.comfyui, pytest.mark.slow, pytest.mark.xdist_group("comfyui-browser")]

EXTENSION = "comfyui-fal-avatar.status"
WORKFLOW = REPO_ROOT / "example_workflows" / "fal-InfiniTalk-image-to-video.json"
APP = "window.comfyAPI.app.app"
DUMMY_KEY = "browser-test-id:browser-test-secret"
EMULATOR_KEY = "browser-fal-id:browser-fal-secret"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --- a minimal DevTools client ----------------------------------------------------------------------------


class _WebSocket:
    """RFC 6455 client: masked text frames out; text frames (with continuations) in."""

    def __init__(self, url: str, timeout: float = 60.0):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self._exact(1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"DevTools refused the websocket: {head[:200]!r}")

    def _exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("DevTools websocket closed")
            buf += chunk
        return bytes(buf)

    def send(self, text: str) -> None:
        data = text.encode()
        n = len(data)
        if n < 126:
            header = struct.pack(">BB", 0x81, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack(">BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack(">BBQ", 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self) -> str:
        message = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack(">H", self._exact(2))
            elif n == 127:
                (n,) = struct.unpack(">Q", self._exact(8))
            payload = self._exact(n)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the websocket")
            if opcode in (0x9, 0xA):
                continue
            message += payload
            if b0 & 0x80:
                return message.decode()

    def close(self) -> None:
        self.sock.close()


class Page:
    """One Chromium tab: evaluate JavaScript, wait for conditions, record console/log events."""

    def __init__(self, ws: _WebSocket):
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []
        self.handlers: dict[str, Callable[[dict], None]] = {}

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        own = self.next_id
        self.ws.send(json.dumps({"id": own, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == own:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            if "method" in message:
                self.events.append(message)
                handler = self.handlers.get(message["method"])
                if handler:
                    handler(message["params"])

    def send(self, method: str, **params) -> None:
        """Fire and forget (used from event handlers; the answer is skipped by `call`)."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise AssertionError(f"page raised: {details.get('exception', {}).get('description') or details}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 30.0, what: str = ""):
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what or expression}")
            time.sleep(0.1)

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path


class Chromium:
    def __init__(self, binary: str, user_dir: Path):
        self.user_dir = user_dir
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
                f"--user-data-dir={user_dir}",
                "--window-size=1400,900",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                "about:blank",
            ],  # fmt: skip
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def page(self, timeout: float = 30.0) -> Page:
        port_file = self.user_dir / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while True:
            try:
                port = int(port_file.read_text().split()[0])
                with _OPENER.open(f"http://127.0.0.1:{port}/json", timeout=5) as resp:
                    target = next(t for t in json.load(resp) if t["type"] == "page")
                return Page(_WebSocket(target["webSocketDebuggerUrl"]))
            except (OSError, ValueError, IndexError, StopIteration):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("Chromium did not open its DevTools port") from None
                time.sleep(0.1)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass(frozen=True)
class BrowserFal:
    emulator: FalEmulator
    home: Path  # FAL_AVATAR_HOME of the module's ComfyUI


@pytest.fixture(scope="module")
def chromium_binary() -> str:
    binary = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return binary


@pytest.fixture(scope="module")
def browser_fal(comfyui_path, chromium_binary, tmp_path_factory) -> Iterator[BrowserFal]:
    """One emulator and one data directory for the module's ComfyUI (a start costs 10-20 s): the
    environment this process had while the server started, as `fal_env` sets it for a single test."""
    home = tmp_path_factory.mktemp("browser-home")
    with FalEmulator(key=EMULATOR_KEY, processing_time=0.3) as emulator, pytest.MonkeyPatch.context() as env:
        env.setenv("FAL_KEY", EMULATOR_KEY)
        for name in ("FAL_QUEUE_URL", "FAL_REST_URL", "FAL_CDN_URL", "FAL_API_URL"):
            env.setenv(name, emulator.base_url)
        env.setenv("FAL_OPENAPI_URL", emulator.base_url + "/api/openapi/queue/openapi.json")
        env.setenv("FAL_AVATAR_HOME", str(home))
        yield BrowserFal(emulator, home)


@pytest.fixture(scope="module")
def browser_server(comfyui_path, comfyui_python, browser_fal, tmp_path_factory) -> Iterator[ComfyClient]:
    """A running ComfyUI with this pack, wired to the module's emulator; its log is printed at the end."""
    server = ComfyServer(
        comfyui_path, comfyui_python, tmp_path_factory.mktemp("comfyui"), child_environment({})
    )
    server.work_dir.mkdir(exist_ok=True)
    client = server.start(timeout=float(os.environ.get("COMFYUI_START_TIMEOUT", "240")))
    try:
        # not a first start: a new user gets the templates browser, which would cover the canvas
        assert client.request("POST", "/settings/Comfy.TutorialCompleted", True)[0] == 200
        # a long speech in the input folder (before the page lists the folder)
        write_silent_wav(client.base_dir / "input" / "speech_75s.wav", 75.0)
        yield client
    finally:
        client.ws.close()
        server.stop()
        print(f"--- ComfyUI log ({client.log_path}), last lines ---\n{client.log_tail(80)}")


@pytest.fixture(scope="module")
def browser_page(chromium_binary, browser_server) -> Iterator[Page]:
    user_dir = Path(tempfile.mkdtemp(prefix="fal-avatar-chromium-"))
    browser = Chromium(chromium_binary, user_dir)
    try:
        tab = browser.page()
        for domain in ("Runtime", "Log", "Page"):
            tab.call(f"{domain}.enable")
        open_comfyui(tab, browser_server.base_url)
        yield tab
        tab.ws.close()
    finally:
        browser.close()
        shutil.rmtree(user_dir, ignore_errors=True)


@pytest.fixture
def page(browser_page) -> Iterator[Page]:
    """The module's tab for one check: its console events are this check's; the pack must log no error."""
    browser_page.events.clear()
    yield browser_page
    assert own_errors(browser_page) == []


@pytest.fixture
def comfy_server(browser_server) -> ComfyClient:
    return browser_server


@pytest.fixture
def fal_env(browser_fal) -> FalEmulator:
    return browser_fal.emulator


@pytest.fixture
def home(browser_fal) -> Path:
    """The server's data directory (the key and the spend limit files)."""
    return browser_fal.home


# --- page helpers -----------------------------------------------------------------------------------------


def open_comfyui(page: Page, base_url: str) -> None:
    page.call("Page.navigate", url=base_url + "/")
    ready = "window.comfyAPI?.app?.app?.isGraphReady && !document.getElementById('splash-loader')"
    page.wait(ready, 90, "the ComfyUI page")
    page.wait(
        f"{json.dumps(NODE_IDS)}.every(id => id in (window.LiteGraph?.registered_node_types ?? {{}}))",
        30,
        "the pack's node types",
    )


def load_workflow(page: Page) -> int:
    """Load the example workflow; return the id of its generation node."""
    workflow = json.loads(WORKFLOW.read_text(encoding="utf-8"))
    page.evaluate(f"{APP}.loadGraphData({json.dumps(workflow)})")
    return page.wait(f"{APP}.rootGraph.nodes.find(n => n.comfyClass === 'FalInfiniTalkImageToVideo')?.id")


def status_text(page: Page, node_id: int) -> str:
    return page.evaluate(f"{status_element(node_id)}.innerText")


def status_element(node_id: int) -> str:
    return f"{APP}.rootGraph.getNodeById({node_id}).widgets.find(w => w.name === 'fal_avatar_status').element"


def set_widget(page: Page, node_id: int, name: str, value) -> None:
    """Set a widget as the user would (value, then its callback: the extension listens there)."""
    page.evaluate(
        f"(v => {{ const w = {APP}.rootGraph.getNodeById({node_id}).widgets.find(w => w.name === "
        f"{json.dumps(name)});"
        " w.value = v; w.callback?.(v); })" + f"({json.dumps(value)})"
    )


def node_of_type(page: Page, type_name: str) -> int:
    return page.evaluate(f"{APP}.rootGraph.nodes.find(n => n.comfyClass === {json.dumps(type_name)}).id")


def write_silent_wav(path: Path, seconds: float, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * round(seconds * rate))


def own_errors(page: Page) -> list[str]:
    """Console errors, exceptions and failed loads that come from the pack's files or routes."""
    markers = (f"/extensions/{PACK_FOLDER}/", "/fal_avatar/")
    found = []
    for event in page.events:
        method, params = event["method"], event["params"]
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            urls = [details.get("url", "")] + [
                f["url"] for f in details.get("stackTrace", {}).get("callFrames", [])
            ]
            text = details.get("exception", {}).get("description") or details.get("text", "")
        elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
            urls = [f["url"] for f in params.get("stackTrace", {}).get("callFrames", [])]
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            urls = [params["entry"].get("url", "")]
            text = params["entry"]["text"]
        else:
            continue
        if any(marker in url for url in urls for marker in markers):
            found.append(f"{text} ({urls[0]})")
    return found


def comfy_settings(base_url: str) -> str:
    with _OPENER.open(base_url + "/settings", timeout=10) as resp:
        return resp.read().decode()


# --- the checks (one ComfyUI and one tab for all of them; each loads the example workflow afresh) -------

SHORT_ESTIMATE = "est. $1.32 · auto: 165 frames (6.60 s) at 480p"
ABOVE_LIMIT = "above your spend limit $25: the run will be refused; raise it in Settings → fal avatar"


def fresh_workflow(page: Page) -> int:
    """The example workflow, loaded anew, with its estimate from the LoadAudio file (6.5 s: 165 frames)
    measured by the server before any run; returns its generation node's id."""
    node_id = load_workflow(page)
    page.wait("document.querySelectorAll('.fal-avatar-status').length >= 1", 10, "the status area")
    page.wait(
        f"{status_element(node_id)}.innerText === {json.dumps(SHORT_ESTIMATE)}",
        15,
        "the estimate from the audio file",
    )
    return node_id


def keep_screenshot(shot: Path) -> None:
    keep = os.environ.get("FAL_AVATAR_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
    print(f"screenshot: {shot}")


def test_extension_registers_with_its_nodes_and_key_setting(page):
    assert page.evaluate(f"{APP}.extensions.some(e => e.name === {json.dumps(EXTENSION)})")
    setting_type = page.evaluate(f"typeof {APP}.extensionManager.setting.settings['FalAvatar.ApiKey']?.type")
    assert setting_type == "function"


def test_estimate_follows_the_resolution_widget(page):
    node_id = fresh_workflow(page)
    set_widget(page, node_id, "resolution", "720p")
    assert status_text(page, node_id) == "est. $2.64 · auto: 165 frames (6.60 s) at 720p"
    set_widget(page, node_id, "resolution", "480p")
    assert status_text(page, node_id) == SHORT_ESTIMATE


def test_a_run_shows_its_phase_request_id_estimate_and_video(page, fal_env, tmp_path):
    node_id = fresh_workflow(page)
    page.evaluate(f"{APP}.queuePrompt(0, 1)")
    page.wait(
        f"(t => t.startsWith('Done') || t.startsWith('Failed'))({APP}.rootGraph.getNodeById({node_id})"
        ".widgets.find(w => w.name === 'fal_avatar_status').element.innerText)",
        120,
        "the run to end",
    )
    text = status_text(page, node_id)
    assert text.startswith("Done · "), text
    (request_id,) = [rid for rid, job in fal_env.jobs.items() if job.endpoint_id == "fal-ai/infinitalk"]
    assert f"req {request_id[:8]}…" in text
    frames = fal_env.jobs[request_id].arguments["num_frames"]
    assert f"est. ${frames / 25 * 0.20:.2f} · auto: {frames} frames ({frames / 25:.2f} s) at 480p" in text
    copy_visible = page.evaluate(
        "[...document.querySelectorAll('.fal-avatar-status button')]"
        ".some(b => b.textContent === 'copy id' && b.offsetParent !== null)"
    )
    assert copy_visible
    # the node's own preview of the fal result, and the example's SaveVideo output
    videos = page.wait(
        "(v => v.some(s => s.includes('type=temp')) && v.some(s => s.includes('type=output')) && v)"
        "([...document.querySelectorAll('video')].map(v => v.src).filter(s => s.includes('/api/view')))",
        60,
        "the video previews",
    )
    assert any(request_id in src and ".mp4" in src for src in videos), videos
    time.sleep(0.5)  # let the canvas paint the last frame before the screenshot
    shot = page.screenshot(tmp_path / "fal-avatar-browser.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep_screenshot(shot)


def long_audio_at_720p(page: Page) -> int:
    """The workflow with the 75 s speech: about 3 segments; at 720p above the default $25 spend limit."""
    node_id = fresh_workflow(page)
    set_widget(page, node_of_type(page, "LoadAudio"), "audio", "speech_75s.wav")
    long_480 = "est. ~$15.38 · about 3 segments (75.0 s) at 480p"
    page.wait(
        f"{status_element(node_id)}.innerText.includes({json.dumps(long_480)})", 15, "the long-run estimate"
    )
    assert "spend limit" not in status_text(page, node_id)
    set_widget(page, node_id, "resolution", "720p")
    return node_id


def test_a_long_audio_gives_the_whole_runs_estimate_and_the_spend_limit_warning(page, tmp_path):
    node_id = long_audio_at_720p(page)
    text = status_text(page, node_id)
    assert "est. ~$30.75 · about 3 segments (75.0 s) at 720p" in text and ABOVE_LIMIT in text, text
    keep_screenshot(page.screenshot(tmp_path / "fal-avatar-long-run.png"))
    set_widget(page, node_id, "resolution", "480p")
    set_widget(page, node_of_type(page, "LoadAudio"), "audio", "fal_avatar_sample_speech.wav")
    page.wait(
        f"{status_element(node_id)}.innerText.includes({json.dumps(SHORT_ESTIMATE)})",
        15,
        "the short estimate again",
    )


def open_settings_section(page: Page) -> None:
    """The settings dialog at the pack's section (the key, the spend limit, "Check fal endpoints")."""
    if page.evaluate("!!document.querySelector('[role=dialog] .fal-avatar-key')"):
        return
    page.evaluate(f"{APP}.extensionManager.command.execute('Comfy.ShowSettingsDialog')")
    page.wait(
        "(e => e && (e.click(), true))([...document.querySelectorAll('[role=dialog] *')]"
        ".find(e => !e.children.length && e.textContent.trim() === 'fal avatar'))",
        15,
        "the 'fal avatar' settings section",
    )


def test_the_key_goes_to_the_server_never_into_comfyuis_settings(page, comfy_server, home):
    open_settings_section(page)
    panel = "document.querySelector('.fal-avatar-key')"
    page.wait(f"{panel}?.innerText.includes('from the environment')", 15, "the key status from the server")
    page.evaluate(
        f"(() => {{ const p = {panel}; p.querySelector('input').value = {json.dumps(DUMMY_KEY)};"
        " [...p.querySelectorAll('button')].find(b => b.textContent.startsWith('Save')).click(); })()"
    )
    page.wait(f"{panel}.innerText.includes('Saved.')", 15, "the save answer")
    key_file = home / KEY_FILE_NAME
    assert key_file.read_text() == DUMMY_KEY
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert page.evaluate(f"{panel}.querySelector('input').value") == ""
    assert "browser-test-secret" not in comfy_settings(comfy_server.base_url)
    assert not page.evaluate(
        "JSON.stringify({...localStorage}).includes('browser-test-secret') || "
        "JSON.stringify({...sessionStorage}).includes('browser-test-secret')"
    )
    page.evaluate(
        f"[...{panel}.querySelectorAll('button')].find(b => b.textContent.startsWith('Forget')).click()"
    )
    page.wait(f"{panel}.innerText.includes('Saved key removed')", 15, "the forget answer")
    assert not key_file.exists()


def test_the_spend_limit_is_saved_on_the_server_and_the_warning_follows_it(page, comfy_server, home):
    node_id = long_audio_at_720p(page)
    page.wait(f"{status_element(node_id)}.innerText.includes({json.dumps(ABOVE_LIMIT)})", 5, "the warning")
    open_settings_section(page)
    spend = "document.querySelector('.fal-avatar-spend')"
    page.wait(
        f"{spend}?.innerText.includes('above $25 is refused before anything is uploaded (the default)')",
        15,
        "the spend limit from the server",
    )
    assert page.evaluate(f"{spend}.querySelector('input').value") == "25"

    def click_spend(label: str) -> None:
        page.evaluate(
            f"[...{spend}.querySelectorAll('button')].find(b => b.textContent === "
            f"{json.dumps(label)}).click()"
        )

    page.evaluate(f"(i => {{ i.value = '40'; }})({spend}.querySelector('input'))")
    click_spend("Save on server")
    page.wait(f"{spend}.innerText.includes('Saved on the server.')", 15, "the saved limit")
    assert "above $40 is refused" in page.evaluate(f"{spend}.innerText")
    settings_file = home / SETTINGS_FILE_NAME
    assert json.loads(settings_file.read_text()) == {"max_usd_per_run": 40.0}
    assert comfy_server.get_json("/fal_avatar/settings")["source"] == "saved"
    page.wait(f"!{status_element(node_id)}.innerText.includes('spend limit')", 5, "the warning to go")
    click_spend("Use default")
    page.wait(f"{spend}.innerText.includes('(the default)')", 15, "the default limit")
    assert json.loads(settings_file.read_text()) == {}
    page.wait(
        f"{status_element(node_id)}.innerText.includes({json.dumps(ABOVE_LIMIT)})", 5, "the warning again"
    )
    assert "FalAvatar.SpendLimit" not in comfy_settings(comfy_server.base_url)


def test_queue_ahead_is_set_on_the_server_from_the_settings_panel(page, comfy_server, home, tmp_path):
    open_settings_section(page)
    panel = "document.querySelector('.fal-avatar-queue-ahead')"
    page.wait(
        f"{panel}?.innerText.includes('up to 4 queued prompts start at once')",
        15,
        "the setting from the server",
    )
    assert page.evaluate(f"{panel}.querySelector('input').value") == "4"
    page.screenshot(tmp_path / "queue-ahead-panel.png")

    def click(label: str) -> None:
        page.evaluate(
            f"[...{panel}.querySelectorAll('button')].find(b => b.textContent === "
            f"{json.dumps(label)}).click()"
        )

    page.evaluate(f"(i => {{ i.value = '0'; }})({panel}.querySelector('input'))")
    click("Save on server")
    page.wait(f"{panel}.innerText.includes('Saved on the server.')", 15, "the saved value")
    assert "Off: queued prompts start their fal jobs only when ComfyUI reaches them" in page.evaluate(
        f"{panel}.innerText"
    )
    assert json.loads((home / SETTINGS_FILE_NAME).read_text()) == {"queue_ahead_prompts": 0}
    page.evaluate(f"(i => {{ i.value = '17'; }})({panel}.querySelector('input'))")
    click("Save on server")
    page.wait(f"{panel}.innerText.includes('Enter a whole number from 0 (off) to 16.')", 5, "the refusal")
    click("Use default")
    page.wait(f"{panel}.innerText.includes('(the default)')", 15, "the default")
    assert json.loads((home / SETTINGS_FILE_NAME).read_text()) == {}
    assert "FalAvatar.QueueAhead" not in comfy_settings(comfy_server.base_url)


def test_check_fal_endpoints_shows_the_servers_doctor_report(page, fal_env, tmp_path):
    """The doctor runs on the server (against the emulator) and only its report reaches the page; then a
    drifted emulator document shows up as drift."""
    open_settings_section(page)
    doctor = "document.querySelector('.fal-avatar-doctor')"
    click_check = f"{doctor}.querySelector('button').click()"
    page.wait(f"!!{doctor}", 15, "the 'Check fal endpoints' entry")
    fal_env.clear_log()
    page.evaluate(click_check)
    delisted = [spec.endpoint_id for spec in GENERATION_ENDPOINTS if spec.status == "delisted"]
    live = len(GENERATION_ENDPOINTS) - len(delisted)
    page.wait(f"{doctor}.innerText.includes('All {live} endpoints match')", 60, "the doctor's report")
    report_text = page.evaluate(f"{doctor}.innerText")
    assert "fal key (from the environment): works" in report_text
    assert f"({len(delisted)} delisted, as expected)" in report_text
    assert all(f"{endpoint}: delisted (kept so saved workflows open)" in report_text for endpoint in delisted)
    assert fal_env.count("submit") == 0 and fal_env.count("openapi") >= live
    assert all("authorization" not in r.headers for r in fal_env.requests if r.route == "openapi")
    original = fal_env.openapi_document("fal-ai/infinitalk/video-to-video")
    drifted = fal_env.openapi_document("fal-ai/infinitalk/video-to-video")
    drifted["components"]["schemas"]["InfinitalkVideoToVideoInput"]["properties"]["num_frames"]["maximum"] = (
        129
    )
    fal_env.serve_openapi("fal-ai/infinitalk/video-to-video", drifted)
    try:
        page.evaluate(click_check)
        page.wait(f"{doctor}.innerText.includes('1 endpoint(s) drifted')", 60, "the drift report")
        report_text = page.evaluate(f"{doctor}.innerText")
        assert "fal-ai/infinitalk/video-to-video: drift" in report_text
        assert "fal's maximum for 'num_frames' is 129" in report_text
        assert fal_env.key not in report_text and fal_env.key.split(":")[1] not in report_text
        keep_screenshot(page.screenshot(tmp_path / "fal-avatar-doctor.png"))
    finally:
        fal_env.serve_openapi("fal-ai/infinitalk/video-to-video", original)


def test_a_long_runs_status_and_its_segment_list_to_copy(page):
    """A long run's status as the node sends it (a synthetic event): the combined segments line, then
    "2 segments" with a copy button that copies the whole segment list."""
    node_id = fresh_workflow(page)
    segment_list = (
        "a1b2c3d4-0000-4000-8000-000000000001@0,e5f6a7b8-0000-4000-8000-000000000002@689,frames=1375"
    )

    def status_event(**fields) -> None:
        detail = {"node": str(node_id), "endpoint": "fal-ai/infinitalk", **fields}
        page.evaluate(
            "window.comfyAPI.api.api.dispatchEvent(new CustomEvent('fal_avatar.status', {detail: "
            f"{json.dumps(detail)}}}))"
        )

    status_event(
        phase="segments", detail="segment 2/2 generating · 1 done", progress=0.62, elapsed_s=83, cost_usd=11.2
    )
    text = status_text(page, node_id)
    assert (
        "Segments · 62% · segment 2/2 generating · 1 done · 01:2" in text and "this run est. $11.20" in text
    ), text
    status_event(
        phase="done", detail="1375 frames · 2 segments", elapsed_s=95, request_id=segment_list, frames=1375
    )
    text = status_text(page, node_id)
    assert "Done · 01:35 · 2 segments" in text and "1375 frames" in text, text
    page.evaluate("navigator.clipboard.writeText = async (t) => { window.__falAvatarCopied = t; }")
    page.evaluate(
        f"[...{status_element(node_id)}.querySelectorAll('button')]"
        ".find(b => b.textContent === 'copy ids').click()"
    )
    assert page.wait("window.__falAvatarCopied", 5, "the copied segment list") == segment_list


def test_a_new_rows_node_shows_its_estimate_and_flags_a_choice_left_open(page):
    """The pack's nodes are those of its menu folder, so a node of a new row is decorated too: Fabric's text
    estimate at 480p, and its resolution left at the placeholder flagged before any run."""
    workflow = json.loads(
        (REPO_ROOT / "example_workflows" / "fal-Fabric-text-to-video.json").read_text("utf-8")
    )
    page.evaluate(f"{APP}.loadGraphData({json.dumps(workflow)})")
    fabric = page.wait(f"{APP}.rootGraph.nodes.find(n => n.comfyClass === 'FalFabric10Text')?.id")
    page.wait(f"{status_element(fabric)}.innerText.includes(' s at 480p')", 15, "Fabric's estimate")
    assert status_text(page, fabric).startswith("est. $"), status_text(page, fabric)
    set_widget(page, fabric, "resolution", "choose…")
    page.wait(
        f"{status_element(fabric)}.innerText.includes('resolution: choose one')",
        15,
        "the unchosen resolution",
    )


def test_without_a_key_on_the_server_the_nodes_say_what_to_do(page, comfy_server):
    """The key route answers "not configured" (intercepted in the page): the nodes warn and their Settings
    button opens the settings."""
    not_configured = base64.b64encode(json.dumps({"configured": False, "source": None}).encode()).decode()
    page.handlers["Fetch.requestPaused"] = lambda params: page.send(
        "Fetch.fulfillRequest",
        requestId=params["requestId"],
        responseCode=200,
        responseHeaders=[{"name": "Content-Type", "value": "application/json"}],
        body=not_configured,
    )
    page.call("Fetch.enable", patterns=[{"urlPattern": "*/fal_avatar/key*"}])
    try:
        open_comfyui(page, comfy_server.base_url)
        node_id = load_workflow(page)
        page.wait(
            f"{APP}.rootGraph.getNodeById({node_id}).widgets.find(w => w.name === 'fal_avatar_status')"
            ".element.innerText.startsWith('No fal API key on the server')",
            15,
            "the missing-key warning",
        )
        assert "Settings → fal avatar → fal API key, or set FAL_KEY" in status_text(page, node_id)
        page.evaluate(
            "[...document.querySelectorAll('.fal-avatar-status button')]"
            ".find(b => b.textContent === 'Settings' && b.offsetParent !== null).click()"
        )
        page.wait(
            "!!document.querySelector('[role=dialog]')?.innerText.includes('fal avatar')", 15, "settings"
        )
    finally:  # the next check gets the server's real answer again
        page.call("Fetch.disable")
        page.handlers.pop("Fetch.requestPaused", None)
        open_comfyui(page, comfy_server.base_url)
