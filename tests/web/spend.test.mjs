import { test } from "node:test";
import assert from "node:assert/strict";

import { checkLimitInput, describeSpendState, formatLimit, readSpendResponse, spendWarning } from "../../web/lib/spend.js";

const response = (status, body) => ({ ok: status < 400, status, json: async () => body });
const BASE = { env: "FAL_AVATAR_MAX_USD_PER_RUN", default_usd: 25 };

test("the routes' answers become the panel's state", async () => {
  assert.deepEqual(await readSpendResponse(response(200, { max_usd_per_run: 40, source: "saved", ...BASE })), {
    ok: true,
    state: { limit: 40, source: "saved", env: BASE.env, defaultUsd: 25, error: null },
  });
  assert.deepEqual(await readSpendResponse(response(400, { error: "The spend limit must be zero or more US dollars (got -1)" })), {
    ok: false,
    error: "The spend limit must be zero or more US dollars (got -1)",
  });
  assert.deepEqual(await readSpendResponse({ ok: false, status: 502, json: async () => { throw new Error("html"); } }), {
    ok: false,
    error: "the server answered HTTP 502",
  });
  const broken = await readSpendResponse(response(200, { max_usd_per_run: null, source: null, ...BASE, error: "bad env" }));
  assert.equal(describeSpendState(broken.state), "The limit could not be read: bad env");
});

test("the panel says where the limit comes from; the environment wins", () => {
  const state = (limit, source) => ({ limit, source, env: BASE.env, defaultUsd: 25, error: null });
  assert.equal(describeSpendState(null), "Checking the server…");
  assert.equal(describeSpendState(state(25, "default")), "A run whose estimate is above $25 is refused before anything is uploaded (the default).");
  assert.match(describeSpendState(state(12.5, "saved")), /above \$12\.50 .*\(saved on the server\)\.$/);
  assert.match(describeSpendState(state(10, "env")), /FAL_AVATAR_MAX_USD_PER_RUN sets this on the server and wins over the value saved here\.$/);
  assert.equal(formatLimit(25), "$25");
  assert.equal(formatLimit(0.5), "$0.50");
});

test("the typed amount: dollars, empty for the default", () => {
  assert.deepEqual(checkLimitInput(" 40 "), { value: 40 });
  assert.deepEqual(checkLimitInput("$12.5"), { value: 12.5 });
  assert.deepEqual(checkLimitInput(""), { value: null });
  assert.ok(checkLimitInput("-3").error);
  assert.ok(checkLimitInput("lots").error);
});

test("a node's estimate above the limit says the run will be refused and where to raise it", () => {
  const saved = { limit: 25, source: "default", env: BASE.env };
  assert.equal(spendWarning(25, saved), null);
  assert.equal(spendWarning(null, saved), null);
  assert.equal(spendWarning(30, null), null);
  assert.equal(spendWarning(25.01, saved), "above your spend limit $25: the run will be refused; raise it in Settings → fal avatar");
  assert.equal(
    spendWarning(30, { ...saved, limit: 10, source: "env" }),
    "above your spend limit $10 (FAL_AVATAR_MAX_USD_PER_RUN on the server): the run will be refused; set it higher",
  );
});
