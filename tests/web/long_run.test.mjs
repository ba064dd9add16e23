import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  audioRunPlan,
  fewestSegments,
  framesCovering,
  needsSegments,
  segmentRule,
  spokenLength,
  textPieceCount,
  textRunPlan,
} from "../../web/lib/long_run.js";

const ROWS = JSON.parse(readFileSync(new URL("./fixtures/endpoints.json", import.meta.url))).endpoints;
const row = (id) => ROWS.find((r) => r.node_id === id);
const I2V = row("FalInfiniTalkImageToVideo");
const T2V = row("FalInfiniTalkTextToVideo");
const SA = row("FalStableAvatar");

test("one job covers up to the row's maximum; segments take at most max - 24 frames", () => {
  assert.deepEqual(segmentRule(I2V), { minFrames: 41, maxFrames: 721, overlap: 8, margin: 24, extra: 2, usable: 697 });
  assert.equal(needsSegments(I2V, 721), false);
  assert.equal(needsSegments(I2V, framesCovering(28.84)), false);
  assert.equal(needsSegments(I2V, 722), true);
  assert.equal(audioRunPlan(I2V, 700), null);
  // StableAvatar: 300 s = 7500 frames, and 7500 is not 4n+1 (7501 > 7500)
  assert.equal(needsSegments(SA, 7497), false);
  assert.equal(needsSegments(SA, 7500), true);
  assert.equal(segmentRule({}), null);
});

test("the fewest segments of equal cuts that fit", () => {
  const rule = segmentRule(I2V);
  assert.equal(fewestSegments(rule, 722), 2);
  assert.equal(fewestSegments(rule, 2 * 697 - 8), 2); // two full segments sharing 8 frames
  assert.equal(fewestSegments(rule, 2 * 697 - 7), 3);
  const plan = audioRunPlan(I2V, 1875);
  assert.deepEqual(plan, { count: 3, jobs: [641, 641, 640], videoFrames: 1875 });
});

test("texts are packed into pieces at sentence ends, then clauses, words and characters", () => {
  // the counts nodes/avatar/text_pieces.py split_text gives for the same texts and limits
  assert.equal(spokenLength("  a \n\n b  "), 3);
  assert.equal(textPieceCount("One two. Three four. Five six.", 9), 4); // "Three four." is split between words
  assert.equal(textPieceCount("One two. Three four. Five six.", 18), 3);
  assert.equal(textPieceCount("One two. Three four. Five six.", 20), 2);
  assert.equal(textPieceCount("One, two, three, four", 10), 3); // clause ends
  assert.equal(textPieceCount("aaaa bbbb cccc dddd", 9), 2); // between words
  assert.equal(textPieceCount("x".repeat(25), 10), 3); // between characters
  // a Han character weighs 14 / 5.18 = 2.70 Latin characters (speech_rate.py): "这是句子。" is 11.8
  assert.equal(textPieceCount("这是句子。这是句子。这是句子。", 12), 3); // CJK sentence ends need no space
  assert.equal(textPieceCount("这是一个很长的句子", 8.2), 3); // a CJK character is a word
  assert.equal(textPieceCount("هل ذهبت؟ نعم، ذهبت. मैं गया। वह आया।", 10), 4); // Unicode's sentence ends
  assert.equal(textPieceCount("   ", 10), 0);
  assert.equal(textRunPlan(T2V, "A short text."), null);
});
