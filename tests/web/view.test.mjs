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
