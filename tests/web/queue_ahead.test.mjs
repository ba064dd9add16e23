import { test } from "node:test";
import assert from "node:assert/strict";

import { checkPromptsInput, describeEarlyJobs, describeQueueAhead, readQueueAheadResponse } from "../../web/lib/queue_ahead.js";

const response = (status, body) => ({ ok: status < 400, status, json: async () => body });
const BASE = { env: "FAL_AVATAR_QUEUE_AHEAD", default: 4, max: 16 };

test("the route's answer becomes the panel's state, early jobs included", async () => {
  const job = { prompt_id: "p1", node: "3", endpoint: "fal-ai/infinitalk", phase: "started", estimate_usd: 0.33 };
  const read = await readQueueAheadResponse(response(200, { queue_ahead_prompts: 4, source: "default", ...BASE,
    jobs: [job, { ...job, node: "7" }], early_usd: 0.66, messages: [] }));
  assert.equal(read.ok, true);
  assert.equal(describeQueueAhead(read.state), "The fal jobs of up to 4 queued prompts start at once (nodes fed " +
    "straight by Load Image / Load Audio / Load Video); each node then takes its job at no new cost (the default).");
  const [line] = describeEarlyJobs(read.state);
  assert.match(line, /^2 early fal jobs for 1 queued prompt, est\. ~\$0\.66 in all\. .*may be billed\.$/);
  assert.deepEqual(await readQueueAheadResponse(response(400, { error: "must be a whole number" })),
    { ok: false, error: "must be a whole number" });
});

test("off, the environment winning, a broken value and cancel messages", async () => {
  const state = (prompts, source, extra = {}) => ({ prompts, source, env: BASE.env, max: 16, error: null, jobs: [],
    earlyUsd: 0, messages: [], ...extra });
  assert.match(describeQueueAhead(state(0, "saved")), /^Off: .*\(saved on the server\)\.$/);
  assert.match(describeQueueAhead(state(1, "env")), /up to 1 queued prompt start .*FAL_AVATAR_QUEUE_AHEAD sets this/);
  assert.equal(describeQueueAhead(state(null, null, { error: "bad" })), "The setting could not be read: bad");
  const said = "prompt p5 left the queue: its early fal job r9 was cancelled while already generating; fal may bill it";
  assert.deepEqual(describeEarlyJobs(state(4, "default", { messages: [said] })), [said]);
});

test("what may be typed", () => {
  assert.deepEqual(checkPromptsInput(""), { value: null });
  assert.deepEqual(checkPromptsInput(" 0 "), { value: 0 });
  assert.deepEqual(checkPromptsInput("16"), { value: 16 });
  assert.ok(checkPromptsInput("17").error && checkPromptsInput("2.5").error && checkPromptsInput("-1").error);
});
