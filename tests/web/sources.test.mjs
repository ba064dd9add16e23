import { test } from "node:test";
import assert from "node:assert/strict";

import { createLengthCache, loaderFile, sourceLengths } from "../../web/lib/sources.js";

test("loader nodes name their file; other nodes do not", () => {
  assert.equal(loaderFile("LoadAudio", { audio: "speech_75s.wav" }), "speech_75s.wav");
  assert.equal(loaderFile("LoadVideo", { file: "clip.mp4 [output]" }), "clip.mp4 [output]");
  assert.equal(loaderFile("LoadAudio", { audio: " " }), null);
  assert.equal(loaderFile("AudioTrim", { audio: "x.wav" }), null);
});

test("each file is measured once; answers re-render, failures stay unknown", async () => {
  const asked = [];
  const changed = [];
  const answers = {
    "a.wav": { ok: true, lengths: { audio_s: 75, video_s: null, video_frames: null } },
    "bad.txt": { ok: false, error: "not media" },
  };
  const cache = createLengthCache(async (name) => {
    asked.push(name);
    return answers[name];
  }, (name) => changed.push(name));
  assert.equal(cache.get("a.wav"), null); // being asked
  assert.equal(cache.get("a.wav"), null);
  assert.equal(cache.get("bad.txt"), null);
  assert.equal(cache.get(null), null);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(asked, ["a.wav", "bad.txt"]);
  assert.deepEqual(changed, ["a.wav", "bad.txt"]);
  assert.deepEqual(cache.get("a.wav"), answers["a.wav"].lengths);
  assert.equal(cache.get("bad.txt"), null);
  assert.deepEqual(asked, ["a.wav", "bad.txt"]);
});

test("the audio input gives the audio length, dubbing's video input the source length", () => {
  assert.deepEqual(sourceLengths({ audio: { audio_s: 75 }, video: { video_s: 30, video_frames: 900, audio_s: 29 } }), {
    audioS: 75,
    sourceS: 30,
    sourceFrames: 900,
  });
  assert.deepEqual(sourceLengths(), { audioS: null, sourceS: null, sourceFrames: null });
});

test("two speakers: the longer track sets the length", () => {
  assert.equal(sourceLengths({ audio: { audio_s: 4 }, audio2: { audio_s: 6.5 } }).audioS, 6.5);
  assert.equal(sourceLengths({ audio: null, audio2: { audio_s: 6.5 } }).audioS, 6.5);
  assert.equal(sourceLengths({ audio: { audio_s: 4 }, audio2: null }).audioS, 4);
});
