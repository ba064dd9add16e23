import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { rowsByNodeId } from "../../web/lib/nodes.js";
import { initialState, reduceStatus } from "../../web/lib/status.js";
import { nodeViewModel, visibleRows } from "../../web/lib/view.js";

const ROWS = rowsByNodeId(JSON.parse(readFileSync(new URL("./fixtures/endpoints.json", import.meta.url))));
const KEY_OK = { configured: true, source: "env" };

test("a fresh node shows only its estimate", () => {
  const model = nodeViewModel({
    typeName: "FalInfiniTalkImageToVideo",
    row: ROWS.FalInfiniTalkImageToVideo,
    values: { num_frames: 0, resolution: "720p" },
    state: initialState,
    keyState: KEY_OK,
    now: 0,
  });
  assert.equal(model.warning, "");
  assert.equal(model.status, "");
  assert.equal(model.estimate, "auto — depends on audio length · $0.40/s at 720p");
  assert.match(model.estimateTitle, /^Estimated; .*Third-party/);
  assert.equal(model.problem, null);
  assert.equal(visibleRows(model), 1);
});

test("the audio length from a run feeds the estimate; bad num_frames is flagged", () => {
  const state = reduceStatus(initialState, { node: "3", phase: "uploading", audio_s: 4, elapsed_s: 1 }, 0);
  const args = { typeName: "FalInfiniTalkImageToVideo", row: ROWS.FalInfiniTalkImageToVideo, state, keyState: KEY_OK, now: 0 };
  assert.equal(nodeViewModel({ ...args, values: { num_frames: 0, resolution: "480p" } }).estimate, "est. $0.81 · auto: 101 frames (4.04 s) at 480p");
  const bad = nodeViewModel({ ...args, values: { num_frames: 150, resolution: "480p" } });
  assert.match(bad.problem, /use 149 or 153/);
  assert.equal(visibleRows(bad), 4); // status, details, estimate, problem
});

test("missing key warns; the fetch node has no estimate; unknown rows say so", () => {
  const noKey = nodeViewModel({ typeName: "FalAvatarFetchResult", row: undefined, values: {}, state: initialState, keyState: { configured: false, source: null }, now: 0 });
  assert.match(noKey.warning, /No fal API key/);
  assert.match(noKey.warningHint, /Settings → fal avatar/);
  assert.equal(noKey.estimate, "");
  assert.equal(visibleRows(noKey), 2);
  const unknown = nodeViewModel({ typeName: "FalStableAvatar", row: undefined, values: {}, state: initialState, keyState: null, now: 0 });
  assert.equal(unknown.estimate, "cost estimate unavailable");
  assert.equal(unknown.warning, "");
});

test("errors are flagged and carry the server text as title", () => {
  const state = reduceStatus(initialState, { node: "3", phase: "error", text: "boom: do X", request_id: "abc" }, 0);
  assert.match(nodeViewModel({ typeName: "FalStableAvatar", row: ROWS.FalStableAvatar, values: {}, state, keyState: KEY_OK, now: 0 }).status, /^Failed/);
  const model = nodeViewModel({ typeName: "FalStableAvatar", row: ROWS.FalStableAvatar, values: {}, state, keyState: KEY_OK, now: 0 });
  assert.equal(model.isError, true);
  assert.equal(model.requestId, "abc");
  assert.equal(model.statusTitle, "boom: do X");
});

const SPEND = { limit: 25, source: "default", env: "FAL_AVATAR_MAX_USD_PER_RUN", defaultUsd: 25, error: null };

test("a long audio upstream: the whole run's estimate, and the spend limit before the run", () => {
  const args = { typeName: "FalInfiniTalkImageToVideo", row: ROWS.FalInfiniTalkImageToVideo, state: initialState, keyState: KEY_OK, now: 0 };
  const values = { num_frames: 0, resolution: "480p" };
  const under = nodeViewModel({ ...args, values, spendState: SPEND, sources: { audioS: 75 } });
  assert.equal(under.estimate, "est. ~$15.38 · about 3 segments (75.0 s) at 480p");
  assert.match(under.estimateTitle, /every segment is billed, overlaps included/);
  assert.equal(under.limit, null);
  assert.equal(visibleRows(under), 1);
  const above = nodeViewModel({ ...args, values: { ...values, resolution: "720p" }, spendState: SPEND, sources: { audioS: 75 } });
  assert.equal(above.estimate, "est. ~$30.75 · about 3 segments (75.0 s) at 720p");
  assert.equal(above.limit, "above your spend limit $25: the run will be refused; raise it in Settings → fal avatar");
  assert.equal(visibleRows(above), 2);
  // no limit known (route missing): no warning
  assert.equal(nodeViewModel({ ...args, values: { ...values, resolution: "720p" }, sources: { audioS: 75 } }).limit, null);
});

test("a long text: fine with auto frames, refused for one job, and capped by the widget", () => {
  const args = { typeName: "FalInfiniTalkTextToVideo", row: ROWS.FalInfiniTalkTextToVideo, state: initialState, keyState: KEY_OK, now: 0 };
  const text = "Every sentence here is spoken by the avatar. ".repeat(40);
  const auto = nodeViewModel({ ...args, values: { num_frames: 0, resolution: "480p", text_input: text } });
  assert.equal(auto.problem, null);
  assert.match(auto.estimate, /^est\. ~\$\d+\.\d\d · about \d+ segments/);
  const oneJob = nodeViewModel({ ...args, values: { num_frames: 721, resolution: "480p", text_input: text } });
  assert.equal(oneJob.problem, "text_input is 1799 characters; one fal job speaks at most 1500: set num_frames to 0 (auto) to split it into segments");
  const huge = nodeViewModel({ ...args, values: { num_frames: 0, resolution: "480p", text_input: "a".repeat(20_001) } });
  assert.equal(huge.problem, "text_input is 20001 characters long; the limit is 20000");
});

test("a long run's status: the combined line, then its segment list to copy", () => {
  const args = { typeName: "FalInfiniTalkImageToVideo", row: ROWS.FalInfiniTalkImageToVideo, values: {}, keyState: KEY_OK, now: 0 };
  let state = reduceStatus(initialState, { node: "3", phase: "segments", detail: "segment 2/3 generating · 1 done", progress: 0.5, elapsed_s: 30 }, 0);
  assert.equal(nodeViewModel({ ...args, state }).status, "Segments · 50% · segment 2/3 generating · 1 done · 00:30");
  const list = "a1@0,b2@689,c3@1378,frames=2125";
  state = reduceStatus(state, { node: "3", phase: "done", request_id: list, frames: 2125, elapsed_s: 60 }, 0);
  const done = nodeViewModel({ ...args, state });
  assert.equal(done.status, "Done · 01:00 · 3 segments");
  assert.equal(done.requestId, list);
  assert.equal(done.copyLabel, "copy ids");
  const single = nodeViewModel({ ...args, state: reduceStatus(initialState, { node: "3", phase: "done", request_id: "abc" }, 0) });
  assert.equal(single.copyLabel, "copy id");
});
