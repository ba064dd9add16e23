import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  billedSeconds,
  costForFrames,
  costForSeconds,
  estimateCost,
  estimateNote,
  formatEstimate,
  formatUsd,
  ratePerSecond,
} from "../../web/lib/cost.js";
import { estimateInputs } from "../../web/lib/nodes.js";

const ROWS = JSON.parse(readFileSync(new URL("./fixtures/endpoints.json", import.meta.url))).endpoints;
const row = (id) => ROWS.find((r) => r.node_id === id);
const I2V = row("FalInfiniTalkImageToVideo");
const T2V = row("FalInfiniTalkTextToVideo");
const V2V = row("FalInfiniTalkVideoToVideo");
const SA = row("FalStableAvatar");

// Price formulas as pricing.PriceRule.to_json() serves them, one feature each.
const price = (fields) => ({ kind: "per_second", min_seconds: 0, multiplier_above_frames: null, round_up_s: 0, unit_frames: 0, unit_fps: 0, per: "second", label: "estimated", ...fields });
const audioRow = (fields) => ({ node_id: "X", fps: 25, length_rule: "audio", length_from: "audio", long_run: null, num_segments: null, ...fields });

test("billed seconds: rounded up, in frame units, with a minimum", () => {
  assert.equal(billedSeconds(price({ round_up_s: 1 }), 9.4), 10); // Aurora: 9.4 s billed as 10 s
  assert.equal(billedSeconds(price({ round_up_s: 1 }), 9.0000000001), 9);
  assert.equal(billedSeconds(price({ unit_frames: 16, unit_fps: 16 }), 5.2), 6); // whole 16-frame units at 16 fps
  assert.equal(billedSeconds(price({ unit_frames: 16, unit_fps: 64 }), 5.2), 5.25); // 4 units per second
  assert.equal(billedSeconds(price({ min_seconds: 4 }), 2.5), 4);
  assert.equal(billedSeconds(price({}), 2.5), 2.5);
});

test("per second at each resolution, per minute, unknown", () => {
  const aurora = audioRow({ price: price({ usd_per_second: { "480p": 0.07, "720p": 0.14 }, round_up_s: 1 }) });
  assert.equal(costForSeconds(aurora, 9.4, "480p"), 0.7);
  assert.equal(costForSeconds(aurora, 9.4, "720p"), 1.4);
  assert.equal(formatEstimate(aurora, { resolution: "720p", audioS: 9.4 }), "est. $1.40 · 9.40 s at 720p · billed as 10.00 s");
  const sync = audioRow({ price: price({ usd_per_second: { "*": 3 / 60 }, per: "minute" }) });
  assert.equal(costForSeconds(sync, 30, null), 1.5);
  assert.equal(formatEstimate(sync, {}), "auto — depends on audio length · $3.00/min");
  const unknown = audioRow({ price: price({ usd_per_second: {}, per: "unknown" }) });
  assert.equal(costForSeconds(unknown, 30, null), null);
  assert.equal(formatEstimate(unknown, { audioS: 6 }), "est. unknown · 6.00 s · price unknown");
  assert.equal(formatEstimate(unknown, {}), "auto — depends on audio length · price unknown");
});

test("num_segments rows bill the video's seconds (it stops with the audio), not whole segments", () => {
  const longcat = audioRow({
    length_rule: "num_segments",
    num_segments: { first_s: 5.8, step_s: 5, max: 10 },
    price: price({ usd_per_second: { "480p": 0.15, "720p": 0.3 }, unit_frames: 16, unit_fps: 16 }),
  });
  const est = estimateCost(longcat, { resolution: "480p", audioS: 12 }); // 3 segments (15.8 s) render 12 s
  assert.deepEqual(
    { seconds: est.seconds, usd: est.usd, segments: est.segments },
    { seconds: 12, usd: 1.8, segments: 1 },
  );
  assert.equal(estimateCost(longcat, { resolution: "480p", audioS: 5.3 }).usd, 0.9); // 6 whole units
});

test("rates per resolution; unknown resolution gets the dearest", () => {
  assert.equal(ratePerSecond(I2V.price, "480p"), 0.2);
  assert.equal(ratePerSecond(I2V.price, "720p"), 0.4);
  assert.equal(ratePerSecond(I2V.price, "1080p"), 0.4);
  assert.equal(ratePerSecond(I2V.price, null), 0.4);
  assert.equal(ratePerSecond(SA.price, null), 0.1);
  assert.equal(ratePerSecond({ usd_per_second: {} }, "480p"), null);
});

test("InfiniTalk: $0.20/s at 480p, $0.40/s at 720p, seconds = frames / 25", () => {
  assert.equal(costForFrames(I2V, 125, "480p"), 1.0);
  assert.equal(costForFrames(I2V, 125, "720p"), 2.0);
  assert.equal(costForFrames(I2V, 81, "480p"), 0.648);
});

test("video-to-video costs 1.25x above 81 frames only", () => {
  assert.equal(costForFrames(V2V, 81, "480p"), 0.648);
  assert.equal(costForFrames(V2V, 85, "480p"), Math.round(85 / 25 * 0.2 * 1.25 * 1e4) / 1e4);
  assert.equal(costForFrames(V2V, 125, "720p"), 2.5);
  const est = estimateCost(V2V, { numFrames: 125, resolution: "720p" });
  assert.equal(est.multiplierApplied, true);
  assert.match(formatEstimate(V2V, { numFrames: 125, resolution: "720p" }), /×1\.25 above 81 frames/);
});

test("StableAvatar: $0.10/s of its audio's seconds, with a 4 s minimum", () => {
  assert.equal(costForSeconds(SA, 2, null), 0.4); // 2 s → billed 4 s
  assert.equal(costForSeconds(SA, 10, null), 1.0);
  const short = estimateCost(SA, { audioS: 2.0 });
  assert.deepEqual([short.usd, short.minApplied, short.frames, short.seconds], [0.4, true, 53, 2]); // 4n+1 planning frames
  assert.equal(formatEstimate(SA, { audioS: 2.0 }), "est. $0.40 · 2.00 s · billed as 4 s minimum");
  assert.equal(formatEstimate(SA, { audioS: 6.3 }), "est. $0.63 · 6.30 s");
});

test("explicit num_frames is used as given", () => {
  const est = estimateCost(I2V, { numFrames: 201, resolution: "720p" });
  assert.deepEqual(
    { known: est.known, auto: est.auto, frames: est.frames, usd: est.usd },
    { known: true, auto: false, frames: 201, usd: 3.216 },
  );
  assert.equal(formatEstimate(I2V, { numFrames: 201, resolution: "720p" }), "est. $3.22 · 201 frames (8.04 s) at 720p");
});

test("auto frames come from the audio length when known", () => {
  const est = estimateCost(I2V, { numFrames: 0, resolution: "720p", audioS: 4.0 });
  assert.equal(est.frames, 101);
  assert.equal(est.usd, 1.616);
  assert.equal(formatEstimate(I2V, { numFrames: 0, resolution: "720p", audioS: 4.0 }), "est. $1.62 · auto: 101 frames (4.04 s) at 720p");
  // clamped to the endpoint range; up to 721 frames (28.84 s) is one job
  assert.equal(estimateCost(I2V, { numFrames: 0, resolution: "480p", audioS: 0.5 }).frames, 41);
  assert.equal(estimateCost(I2V, { numFrames: 0, resolution: "480p", audioS: 28.84 }).frames, 721);
  assert.equal(estimateCost(I2V, { numFrames: 0, resolution: "480p", audioS: 28.84 }).segments, 1);
  // an explicit num_frames is one job whatever the audio
  assert.equal(estimateCost(I2V, { numFrames: 721, resolution: "480p", audioS: 99 }).segments, 1);
});

test("auto runs longer than one job: about as many segments as the planner uses, billed leaning up", () => {
  // 75 s = 1875 frames: 3 segments of at most 697 frames (721 - 24 margin), 2 joins; the estimate bills
  // 1875 + 4 joins x 11 frames + 3 = 1922 frames (the planner may add 2 segments to join in pauses)
  const est = estimateCost(I2V, { numFrames: 0, resolution: "480p", audioS: 75 });
  assert.deepEqual(
    { segments: est.segments, frames: est.frames, seconds: est.seconds, usd: est.usd },
    { segments: 3, frames: 1922, seconds: 75, usd: 15.376 },
  );
  assert.equal(formatEstimate(I2V, { numFrames: 0, resolution: "480p", audioS: 75 }), "est. ~$15.38 · about 3 segments (75.0 s) at 480p");
  assert.match(estimateNote(I2V, { numFrames: 0, resolution: "480p", audioS: 75 }), /overlap by 8-11 frames; every segment is billed/);
  assert.doesNotMatch(estimateNote(I2V, { numFrames: 0, audioS: 5 }), /segments/);
  // dubbing: the source video's length decides (the audio's when the source is not known), x1.25 per job
  const dub = estimateCost(V2V, { numFrames: 0, resolution: "480p", audioS: 5, sourceS: 30 });
  assert.equal(dub.segments, 4);
  assert.equal(dub.seconds, 30);
  assert.equal(dub.usd, Math.round(((750 + 5 * 11 + 3) / 25) * 0.2 * 1.25 * 1e4) / 1e4);
  assert.match(formatEstimate(V2V, { numFrames: 0, resolution: "480p", audioS: 30 }), /^est\. ~\$\d+\.\d\d · about 4 segments \(30\.0 s\) at 480p · ×1\.25 above 81 frames$/);
  // a short source is one job, cut at the source's end
  assert.equal(estimateCost(V2V, { numFrames: 0, resolution: "480p", audioS: 9, sourceS: 4, sourceFrames: 100 }).frames, 97);
  // StableAvatar: one job up to 300 s
  assert.equal(estimateCost(SA, { audioS: 299 }).segments, 1);
  assert.equal(estimateCost(SA, { audioS: 310 }).segments, 2);
});

test("long texts: pieces at sentence ends, as many as the server's splitter makes", () => {
  const sentence = "This sentence is read aloud by the built-in voice of the avatar.";
  const text = Array(40).fill(sentence).join(" "); // 2599 characters, 64 per sentence; a piece takes 332
  const est = estimateCost(T2V, { numFrames: 0, resolution: "480p", text });
  assert.equal(est.segments, 8); // 5 sentences (324 characters) per piece; the server: 8 jobs of 681 frames
  assert.equal(est.frames, Math.ceil((2599 / 14) * 1.15 * 25 + 8 * 0.6 * 25) + 4 * 8); // server: 5448
  assert.equal(est.frames, 5490);
  assert.equal(formatEstimate(T2V, { numFrames: 0, resolution: "480p", text }), "est. ~$43.92 · about 8 segments (217.4 s) at 480p");
  // a short text stays one job, estimated without slack as before
  assert.equal(estimateCost(T2V, { numFrames: 0, resolution: "480p", text: sentence }).segments, 1);
});

test("auto without a known length shows the per-second rate", () => {
  assert.equal(estimateCost(I2V, { numFrames: 0, resolution: "480p" }).known, false);
  assert.equal(formatEstimate(I2V, { numFrames: 0, resolution: "480p" }), "auto — depends on audio length · $0.20/s at 480p");
  assert.equal(formatEstimate(SA, {}), "auto — depends on audio length · $0.10/s · min 4 s");
  assert.equal(
    formatEstimate(V2V, { numFrames: 0, resolution: "720p" }),
    "auto — depends on audio length · $0.40/s at 720p · ×1.25 above 81 frames",
  );
  assert.equal(formatEstimate(T2V, { numFrames: 0, resolution: "480p", text: "  " }), "auto — depends on text length · $0.20/s at 480p");
});

test("text-to-video auto length comes from the text (row's chars_per_second wins)", () => {
  const text = "x".repeat(140); // 10 s at 14 chars/s → 253 frames
  assert.equal(estimateCost(T2V, { numFrames: 0, resolution: "480p", text }).frames, 253);
  assert.equal(estimateCost({ ...T2V, chars_per_second: 28 }, { numFrames: 0, resolution: "480p", text }).frames, 125);
});

test("no row: the estimate says so", () => {
  assert.equal(formatEstimate(undefined, {}), "cost estimate unavailable");
  assert.equal(formatUsd(null), "unknown");
});

// The rows as GET /fal_avatar/endpoints serves them: each formula from its row, one source.
const byId = (id) => ROWS.find((r) => r.node_id === id);

test("every row's formula: per second, per resolution, rounded up, frame units, per minute by model", () => {
  const line = (id, values, audioS) => {
    const row = byId(id);
    return formatEstimate(row, estimateInputs(row, values, null, { audioS }));
  };
  assert.equal(line("FalOmniHuman15", { resolution: "1080p" }, 6), "est. $0.96 · 6.00 s at 1080p");
  assert.equal(line("FalKlingAvatarV2Standard", {}, 10), "est. $0.56 · 10.00 s");
  assert.equal(line("FalFabric10", { resolution: "720p" }, 10), "est. $1.50 · 10.00 s at 720p");
  assert.equal(line("FalCreatifyAurora", { resolution: "720p" }, 9.4), "est. $1.40 · 9.40 s at 720p · billed as 10.00 s");
  // LongCat: 12 s of audio → 3 segments of fal (15.8 s), but the video stops with the audio: 12 s billed,
  // in 16-frame units at 16 fps (12.3 s → 13 units)
  assert.equal(line("FalLongCatAvatar", { resolution: "480p" }, 12), "est. $1.80 · 12.00 s at 480p");
  assert.equal(
    line("FalLongCatAvatar", { resolution: "720p" }, 12.3),
    "est. $3.90 · 12.30 s at 720p · billed as 13.00 s",
  );
  assert.equal(line("FalSyncLipsyncV2", { model: "lipsync-2" }, 30), "est. $1.50 · 30.00 s at lipsync-2");
  assert.equal(line("FalSyncLipsyncV2", { model: "lipsync-2-pro" }, 30), "est. $2.50 · 30.00 s at lipsync-2-pro");
  assert.equal(line("FalSyncLipsyncV2", { model: "lipsync-2" }, null), "auto — depends on audio length · $3.00/min at lipsync-2");
  // a required choice not made yet: the dearest rate, never an under-estimate
  assert.equal(line("FalFabric10", { resolution: "choose…" }, 10), "est. $1.50 · 10.00 s");
});

test("OmniHuman's limit per job depends on the resolution: 65 s is 2 jobs at 720p, 3 at 1080p", () => {
  const row = byId("FalOmniHuman15");
  assert.equal(estimateCost(row, { resolution: "720p", audioS: 65 }).segments, 2);
  assert.equal(estimateCost(row, { resolution: "1080p", audioS: 65 }).segments, 3);
  assert.equal(estimateCost(row, { resolution: "720p", audioS: 59 }).segments, 1);
});
