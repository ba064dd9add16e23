import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  CHARS_PER_SECOND,
  autoFrames,
  framesForSeconds,
  numFramesProblem,
  roundDown4n1,
  roundUp4n1,
  speechSeconds,
} from "../../web/lib/frames.js";

const ROWS = JSON.parse(readFileSync(new URL("./fixtures/endpoints.json", import.meta.url))).endpoints;
const row = (id) => ROWS.find((r) => r.node_id === id);

test("4n+1 rounding", () => {
  assert.deepEqual([1, 2, 41, 42, 44, 45, 46].map(roundUp4n1), [1, 5, 41, 45, 45, 45, 49]);
  assert.deepEqual([1, 4, 41, 44, 45].map(roundDown4n1), [1, 1, 41, 41, 45]);
  assert.equal(roundUp4n1(0), 1);
  assert.equal(roundUp4n1(-7), 1);
});

test("frames for seconds at 25 fps round up to 4n+1 without float noise", () => {
  assert.equal(framesForSeconds(5.8), 145); // exactly 145 frames
  assert.equal(framesForSeconds(5.81), 149);
  assert.equal(framesForSeconds(4.0), 101);
  assert.equal(framesForSeconds(0.04 * 3), 5); // 3.0000000000000004 frames is 3 frames
});

test("auto frames clamp to the endpoint range", () => {
  const it = row("FalInfiniTalkImageToVideo");
  assert.equal(autoFrames(it, 0.5), 41);
  assert.equal(autoFrames(it, 10.0), 253);
  assert.equal(autoFrames(it, 60.0), 721);
});

test("rows without a frame range follow the audio up to max_audio_s", () => {
  const sa = row("FalStableAvatar");
  assert.equal(autoFrames(sa, 2.0), 53);
  assert.equal(autoFrames(sa, 1000), framesForSeconds(300));
});

test("speech length estimate collapses whitespace", () => {
  assert.equal(speechSeconds("a  b\n c"), 5 / CHARS_PER_SECOND);
  assert.equal(speechSeconds(""), 0);
  assert.equal(speechSeconds(null), 0);
  assert.equal(speechSeconds("abcd", 2), 2);
});

test("the speech rates match nodes/avatar/speech_rate.py", () => {
  const py = readFileSync(new URL("../../nodes/avatar/speech_rate.py", import.meta.url), "utf8");
  const rate = (name) => {
    const match = py.match(new RegExp(`^${name}\\s*=\\s*([\\d.]+)`, "m"));
    assert.ok(match, `${name} not found in speech_rate.py`);
    return Number(match[1]);
  };
  assert.equal(rate("LATIN_CHARS_PER_SECOND"), CHARS_PER_SECOND);
  const near = (a, b) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);
  near(speechSeconds("我".repeat(10)), 10 / rate("HAN_PER_SECOND"));
  near(speechSeconds("か".repeat(10)), 10 / rate("KANA_PER_SECOND"));
  near(speechSeconds("한".repeat(10)), 10 / rate("HAN_PER_SECOND"));
});

test("num_frames problems name the valid neighbours", () => {
  const it = row("FalInfiniTalkImageToVideo");
  assert.equal(numFramesProblem(it, 0), null);
  assert.equal(numFramesProblem(it, 81), null);
  assert.match(numFramesProblem(it, 150), /use 149 or 153/);
  assert.match(numFramesProblem(it, 37), /outside 41\.\.721/);
  assert.match(numFramesProblem(it, 722), /outside/);
  assert.equal(numFramesProblem(row("FalStableAvatar"), 77), null);
});
