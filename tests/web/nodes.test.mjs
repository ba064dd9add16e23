import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  CHOOSE,
  FETCH_NODE_TYPE,
  estimateInputs,
  isOurNodeDef,
  rowsByNodeId,
  unchosenProblems,
} from "../../web/lib/nodes.js";

const CATALOG = JSON.parse(readFileSync(new URL("./fixtures/endpoints.json", import.meta.url)));
const ROWS = rowsByNodeId(CATALOG);

test("the pack's nodes are those in its menu folder", () => {
  assert.equal(isOurNodeDef({ name: "FalStableAvatar", category: "fal avatar/compatibility" }), true);
  assert.equal(isOurNodeDef({ name: FETCH_NODE_TYPE, category: "fal avatar" }), true);
  assert.equal(isOurNodeDef({ name: "KSampler", category: "sampling" }), false);
  assert.equal(isOurNodeDef({ name: "X", category: "fal avatarish" }), false);
  assert.equal(isOurNodeDef(undefined), false);
});

test("every row of the catalog is a node with a family, one per family at least; the fetch node has none", () => {
  const rows = Object.values(ROWS);
  assert.equal(rows.length, CATALOG.endpoints.length);
  assert.deepEqual(
    [...new Set(rows.map((r) => r.family))].sort(),
    ["compatibility", "footage_lipsync", "portrait_audio", "portrait_text", "two_people"],
  );
  assert.equal(ROWS[FETCH_NODE_TYPE], undefined);
  assert.deepEqual(rowsByNodeId(null), {});
  assert.deepEqual(rowsByNodeId({ endpoints: [{ node_id: "X" }] }), {});
});

test("estimate inputs come from widget values, the files upstream and the reported audio length", () => {
  const row = ROWS.FalInfiniTalkImageToVideo;
  const none = { rateKey: null, text2: null, sourceS: null, sourceFrames: null };
  assert.deepEqual(estimateInputs(row, { num_frames: 0, resolution: "720p", seed: 1 }, { audioS: 4 }), {
    ...none,
    numFrames: 0,
    resolution: "720p",
    rateKey: "720p",
    text: null,
    audioS: 4,
  });
  assert.deepEqual(estimateInputs(row, {}, null), { numFrames: null, resolution: null, text: null, audioS: null, ...none });
  // a loader's file (measured by the server) wins over the last run's audio
  assert.deepEqual(estimateInputs(row, { num_frames: 0 }, { audioS: 4 }, { audioS: 75, sourceS: 30, sourceFrames: 900 }), {
    ...none,
    numFrames: 0,
    resolution: null,
    text: null,
    audioS: 75,
    sourceS: 30,
    sourceFrames: 900,
  });
});

test("a required choice still at its placeholder is no value, and the node says so", () => {
  const fabric = Object.values(ROWS).find((r) => r.required_choices.includes("resolution"));
  const inputs = estimateInputs(fabric, { resolution: CHOOSE }, null);
  assert.deepEqual([inputs.resolution, inputs.rateKey], [null, null]);
  assert.deepEqual(unchosenProblems(fabric, { resolution: CHOOSE }), [
    "resolution: choose one (fal has no default; the run is refused until then)",
  ]);
  assert.deepEqual(unchosenProblems(fabric, { resolution: "480p" }), []);
  assert.equal(estimateInputs(fabric, { resolution: "480p" }, null).rateKey, "480p");
});

test("the spoken text is the row's own text widget, and the second speaker's on two-person text rows", () => {
  const single = ROWS.FalInfiniTalkTextToVideo;
  assert.equal(estimateInputs(single, { text_input: "Hello there." }, null).text, "Hello there.");
  const pair = Object.values(ROWS).find((r) => r.text2_param);
  assert.ok(pair, "no two-person text row");
  const inputs = estimateInputs(pair, { [pair.text_param]: "First speaker.", [pair.text2_param]: "Second one." }, null);
  assert.deepEqual([inputs.text, inputs.text2], ["First speaker.", "Second one."]);
  assert.equal(estimateInputs(ROWS.FalStableAvatar, { prompt: "not spoken" }, null).text, null);
});
