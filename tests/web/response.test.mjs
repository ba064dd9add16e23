import assert from "node:assert/strict";
import { test } from "node:test";

import { readJsonResponse } from "../../web/lib/response.js";

const response = (status, body) => ({ ok: status < 400, status, json: async () => body });
const notJson = (status) => ({ ok: status < 400, status, json: async () => { throw new SyntaxError("<html>"); } });

test("a usable answer is passed on whole", async () => {
  assert.deepEqual(await readJsonResponse(response(200, { a: 1 })), { ok: true, body: { a: 1 } });
  assert.deepEqual(await readJsonResponse(response(200, null), () => true), { ok: true, body: null });
});

test("a refusal carries the server's own words, whichever field holds them", async () => {
  assert.deepEqual(await readJsonResponse(response(400, { error: "too big" })), { ok: false, error: "too big" });
  assert.deepEqual(await readJsonResponse(response(403, { message: "locked" })), { ok: false, error: "locked" });
  assert.deepEqual(await readJsonResponse(response(422, { detail: [{ loc: ["x"] }] })), {
    ok: false,
    error: '[{"loc":["x"]}]',
  });
});

test("no JSON, no body or an unusable body is named by its HTTP status", async () => {
  assert.deepEqual(await readJsonResponse(notJson(502)), { ok: false, error: "the server answered HTTP 502" });
  assert.deepEqual(await readJsonResponse(notJson(200)), { ok: false, error: "the server answered HTTP 200" });
  const usable = (body) => Array.isArray(body?.rows);
  assert.deepEqual(await readJsonResponse(response(200, { rows: 3 }), usable), {
    ok: false,
    error: "the server answered HTTP 200",
  });
});
