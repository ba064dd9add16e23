import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { NODE_TYPES, estimateInputs, isOurNode, rowsByNodeId } from "../../web/lib/nodes.js";

const CATALOG = JSON.parse(readFileSync(new URL("./fixtures/endpoints.json", import.meta.url)));

test("the five node ids", () => {
  assert.equal(NODE_TYPES.length, 5);
  assert.equal(isOurNode("FalStableAvatar"), true);
  assert.equal(isOurNode("KSampler"), false);
});

test("every generation node has an endpoint row; the fetch node has none", () => {
  const rows = rowsByNodeId(CATALOG);
  for (const id of NODE_TYPES.filter((n) => n !== "FalAvatarFetchResult")) assert.ok(rows[id], id);
  assert.equal(rows.FalAvatarFetchResult, undefined);
  assert.deepEqual(rowsByNodeId(null), {});
  assert.deepEqual(rowsByNodeId({ endpoints: [{ node_id: "X" }] }), {});
});

test("estimate inputs come from widget values, the files upstream and the reported audio length", () => {
  const none = { sourceS: null, sourceFrames: null };
  assert.deepEqual(estimateInputs({ num_frames: 0, resolution: "720p", seed: 1 }, { audioS: 4 }), {
    numFrames: 0,
    resolution: "720p",
    text: null,
    audioS: 4,
    ...none,
  });
  assert.deepEqual(estimateInputs({}, null), { numFrames: null, resolution: null, text: null, audioS: null, ...none });
  // a loader's file (measured by the server) wins over the last run's audio
  assert.deepEqual(estimateInputs({ num_frames: 0 }, { audioS: 4 }, { audioS: 75, sourceS: 30, sourceFrames: 900 }), {
    numFrames: 0,
    resolution: null,
    text: null,
    audioS: 75,
    sourceS: 30,
    sourceFrames: 900,
  });
});
