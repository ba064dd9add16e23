// The "Check fal endpoints" view: the server's doctor report as a headline and lines. The reports come from
// the real Python doctor run against the emulator (FAL_AVATAR_PYTHON, else .venv/bin/python), so the view
// reads exactly what GET /fal_avatar/doctor returns.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { describeHost, describeKey, doctorView, readDoctorResponse, reportTone } from "../../web/lib/doctor.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PYTHON = process.env.FAL_AVATAR_PYTHON || `${ROOT}.venv/bin/python`;
const KEY = "web-test-id:web-test-secret";

const SCRIPT = `
import asyncio, json
from comfyui_fal_avatar.nodes.emulator import FalEmulator
from comfyui_fal_avatar.nodes.fal import FalClient
from comfyui_fal_avatar.nodes.doctor.check import run_doctor
from comfyui_fal_avatar.nodes.settings import FalUrls

def report(emu):
    client = FalClient(urls=FalUrls.single(emu.base_url))
    return asyncio.run(run_doctor(client, url=emu.base_url + "/api/openapi/queue/openapi.json")).to_json()

with FalEmulator(key="${KEY}") as emu:
    ok = report(emu)
    doc = emu.openapi_document("fal-ai/infinitalk/video-to-video")
    doc["components"]["schemas"]["InfinitalkVideoToVideoInput"]["properties"]["num_frames"]["maximum"] = 129
    doc["components"]["schemas"]["InfinitalkVideoToVideoInput"]["properties"]["resolution"]["default"] = "720p"
    emu.serve_openapi("fal-ai/infinitalk/video-to-video", doc)
    emu.retire("fal-ai/stable-avatar")
    drifted = report(emu)
print(json.dumps({"ok": ok, "drifted": drifted}))
`;

function pythonReports() {
  const home = mkdtempSync(join(tmpdir(), "fal-avatar-web-doctor-"));
  try {
    const env = { ...process.env, FAL_KEY: KEY, FAL_AVATAR_HOME: home };
    delete env.FAL_OPENAPI_URL;
    const run = spawnSync(PYTHON, ["-c", SCRIPT], { cwd: ROOT, encoding: "utf8", env });
    assert.equal(run.status, 0, run.stderr);
    return JSON.parse(run.stdout);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

test("reports from the Python doctor: all ok (the delisted row as expected), then drift", { skip: !existsSync(PYTHON) && `no Python at ${PYTHON}` }, async () => {
  const reports = pythonReports();

  const read = await readDoctorResponse(new Response(JSON.stringify(reports.ok), { status: 200 }));
  assert.equal(read.ok, true);
  const ok = doctorView(read.report);
  assert.equal(ok.tone, "ok");
  const [, live, delisted] = ok.headline.match(/^All (\d+) endpoints match fal's schemas \((\d+) delisted, as expected\)/) ?? [];
  assert.ok(Number(live) + Number(delisted) >= 21, ok.headline); // every row of the catalogue
  assert.deepEqual(ok.lines[0], { text: "fal key (from the environment): works", tone: "ok" });
  const endpoints = ok.lines.filter((l) => /^(fal-ai|veed)\//.test(l.text));
  assert.equal(endpoints.filter((l) => l.text.endsWith(": ok") && l.tone === "ok").length, Number(live));
  // a row the pack itself keeps as delisted is expected: shown dim, not as an error
  assert.deepEqual(endpoints.filter((l) => !l.text.endsWith(": ok")), [
    { text: "fal-ai/stable-avatar: delisted (kept so saved workflows open)", tone: "dim" },
  ]);
  assert.equal(ok.lines.filter((l) => /^(queue|rest|cdn) http:\/\/127\.0\.0\.1:\d+: \d+ ms$/.test(l.text)).length, 3);

  const drifted = doctorView(reports.drifted);
  assert.equal(drifted.tone, "error");
  assert.match(drifted.headline, /^1 endpoint\(s\) drifted/);
  const texts = drifted.lines.map((l) => l.text);
  const v2v = texts.indexOf("fal-ai/infinitalk/video-to-video: drift");
  assert.ok(v2v > 0);
  // breaking first, then what still works
  assert.match(texts[v2v + 1], /^ {2}! fal's maximum for 'num_frames' is 129 but the pack allows 241/);
  assert.match(texts[v2v + 2], /^ {2}~ fal's default for 'resolution' is now '720p'/);
  const gone = texts.indexOf("fal-ai/stable-avatar: delisted (kept so saved workflows open)");
  assert.ok(gone > 0);
  assert.match(texts[gone + 1], /Delisted, as the pack expects/);

  const everything = JSON.stringify(reports) + texts.join("\n");
  assert.ok(!everything.includes("web-test-secret"), "the key never reaches the browser");
});

test("key and host lines", () => {
  assert.equal(describeKey({ present: false, source: null, state: "missing" }), "fal key: not set");
  assert.equal(describeKey({ present: true, source: "saved", state: "rejected" }), "fal key (saved on the server): rejected by fal");
  assert.equal(describeKey({ present: true, source: "env", state: "unreachable" }), "fal key (from the environment): could not be checked");
  assert.equal(
    describeHost({ name: "cdn", url: "https://v3.fal.media", reachable: false, error: "ConnectError: refused" }),
    "cdn https://v3.fal.media: unreachable (ConnectError: refused)",
  );
  assert.equal(describeHost({ name: "queue", url: "https://queue.fal.run", reachable: true, rtt_ms: 41.6 }), "queue https://queue.fal.run: 42 ms");
});

test("tones follow the exit code; unreachable endpoints and keys warn", () => {
  assert.equal(reportTone({ exit_code: 0 }), "ok");
  assert.equal(reportTone({ exit_code: 1 }), "error");
  assert.equal(reportTone({ exit_code: 2 }), "warn");
  assert.equal(reportTone({ exit_code: 3 }), "warn");
  const view = doctorView({
    exit_code: 3,
    summary: "1 endpoint(s) unreachable",
    key: { present: true, source: "env", state: "unreachable" },
    hosts: [],
    endpoints: [{ endpoint_id: "fal-ai/infinitalk", status: "unreachable", differences: [], error: "Could not reach fal" }],
  });
  assert.deepEqual(view.lines, [
    { text: "fal key (from the environment): could not be checked", tone: "warn" },
    { text: "fal-ai/infinitalk: unreachable", tone: "warn" },
    { text: "  Could not reach fal", tone: "dim" },
  ]);
});

test("a failed request shows the server's message", async () => {
  const failed = await readDoctorResponse(new Response(JSON.stringify({ error: "FAL_OPENAPI_URL must be a URL" }), { status: 500 }));
  assert.deepEqual(failed, { ok: false, error: "FAL_OPENAPI_URL must be a URL" });
  const html = await readDoctorResponse(new Response("<html>", { status: 404 }));
  assert.deepEqual(html, { ok: false, error: "the server answered HTTP 404" });
  const odd = await readDoctorResponse(new Response(JSON.stringify({ hello: 1 }), { status: 200 }));
  assert.equal(odd.ok, false);
});
