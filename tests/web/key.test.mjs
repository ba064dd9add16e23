import { test } from "node:test";
import assert from "node:assert/strict";

import { checkPastedKey, describeKeyState, nodeKeyWarning, readKeyResponse } from "../../web/lib/key.js";

test("the settings text names the source, never a key", () => {
  assert.match(describeKeyState(null), /Checking/);
  assert.match(describeKeyState({ configured: false, source: null }), /No fal key/);
  assert.match(describeKeyState({ configured: true, source: "env" }), /environment.*wins/);
  assert.match(describeKeyState({ configured: true, source: "saved" }), /saved on the server/);
});

test("nodes warn only when the server says no key", () => {
  assert.equal(nodeKeyWarning(null), null);
  assert.equal(nodeKeyWarning({ configured: true, source: "saved" }), null);
  const warning = nodeKeyWarning({ configured: false, source: null });
  assert.equal(warning.text, "No fal API key on the server");
  assert.match(warning.hint, /Settings → fal avatar → fal API key, or set FAL_KEY/);
});

test("pasted keys are trimmed and checked for the id:secret shape", () => {
  assert.deepEqual(checkPastedKey("  abc:def \n"), { key: "abc:def" });
  assert.deepEqual(checkPastedKey("Key abc:def"), { key: "abc:def" });
  assert.match(checkPastedKey("").error, /Paste a key/);
  assert.match(checkPastedKey("abcdef").error, /<key_id>:<key_secret>/);
  assert.match(checkPastedKey("ab c:def").error, /<key_id>:<key_secret>/);
});

test("key responses: state on success, the server's message on failure", async () => {
  const ok = new Response(JSON.stringify({ configured: true, source: "saved" }), { status: 200 });
  assert.deepEqual(await readKeyResponse(ok), { ok: true, state: { configured: true, source: "saved" } });
  const bad = new Response(JSON.stringify({ error: "That does not look like a fal key" }), { status: 400 });
  assert.deepEqual(await readKeyResponse(bad), { ok: false, error: "That does not look like a fal key" });
  const forbidden = new Response("nope", { status: 403 });
  assert.deepEqual(await readKeyResponse(forbidden), { ok: false, error: "the server answered HTTP 403" });
});
