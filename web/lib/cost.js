// Cost estimate for one node from its endpoint row (GET /fal_avatar/endpoints) and its widget values.
// Mirrors nodes/avatar/pricing.py; the figures are estimates, labelled as such. No DOM, no ComfyUI.

import { FPS, autoFrames, roundDown4n1, speechSeconds } from "./frames.js";
import { audioRunPlan, framesCovering, textRunPlan } from "./long_run.js";

/** USD per second; an unknown resolution gets the dearest rate (never under-estimate). */
export function ratePerSecond(price, resolution) {
  const table = price.usd_per_second ?? {};
  for (const key of [resolution, "*"]) {
    if (key != null && Object.hasOwn(table, key)) return table[key];
  }
  const rates = Object.values(table);
  return rates.length ? Math.max(...rates) : null;
}

/**
 * Estimated USD for `frames` frames at the row's fps (pricing.PriceRule.estimate); `seconds`: the output's
 * own length where it follows the audio rather than a frame count.
 */
export function costForFrames(row, frames, resolution, seconds = null) {
  const price = row.price;
  const rate = ratePerSecond(price, resolution);
  if (rate == null) return null;
  const length = Math.max(seconds ?? frames / (row.fps ?? FPS), price.min_seconds ?? 0);
  let cost = length * rate;
  const above = price.multiplier_above_frames;
  if (above && frames > above.frames) cost *= above.factor;
  return Math.round(cost * 1e4) / 1e4;
}

/**
 * The length the "auto" frame count follows, in seconds, or null when unknown.
 * inputs.audioS: the audio length reported by the server; inputs.text: the text_input widget.
 */
export function lengthSeconds(row, { audioS = null, text = null } = {}) {
  if (row.length_from === "text") {
    if (text != null && String(text).trim()) return speechSeconds(text, row.chars_per_second ?? undefined);
    return audioS ?? null;
  }
  return audioS ?? null;
}

/** Frames of one job for "auto"; dubbing also stops at the source video's end (plan.auto_frames). */
function singleAutoFrames(row, seconds, sourceFrames) {
  const frames = autoFrames(row, seconds);
  if (sourceFrames == null || row.min_frames == null) return frames;
  return Math.max(Math.min(frames, roundDown4n1(sourceFrames)), row.min_frames);
}

/**
 * An "auto" run on the audio rows longer than one job, or null: it covers the audio, or for dubbing the
 * source video (its audio stands in while the source's length is unknown).
 */
function longAudioRun(row, { audioS = null, sourceS = null }) {
  const seconds = row.source_video ? (sourceS ?? audioS) : audioS;
  return seconds == null ? null : audioRunPlan(row, framesCovering(seconds));
}

/**
 * Estimate a run.
 * inputs: {numFrames: number|null (null: the node has no num_frames widget), resolution, audioS, text,
 *          sourceS, sourceFrames (dubbing: the source video's length and frame count, when known)}
 * Returns {known: true, usd, frames, seconds, auto, rate, minApplied, multiplierApplied, segments}
 *      or {known: false, rate, auto: true} when the length is not known yet.
 * `frames` is what fal renders (and bills) in all, `seconds` the video's length; `segments` is the number of
 * jobs (1, or for a run longer than one job, about as many as the server's planner will use).
 */
export function estimateCost(row, inputs = {}) {
  const { numFrames = null, resolution = null } = inputs;
  const rate = ratePerSecond(row.price, resolution);
  const auto = numFrames == null || Number(numFrames) === 0;
  const fps = row.fps ?? FPS;
  let jobs;
  let videoFrames;
  let singleSeconds = null; // a single job whose length follows the audio, not a frame count
  if (!auto) {
    jobs = [Math.trunc(Number(numFrames))];
  } else {
    const long = row.length_from === "text" ? textRunPlan(row, inputs.text ?? "") : longAudioRun(row, inputs);
    if (long) {
      jobs = long.jobs;
      videoFrames = long.videoFrames;
    } else {
      const seconds = lengthSeconds(row, inputs);
      if (seconds == null) return { known: false, auto, rate };
      jobs = [singleAutoFrames(row, seconds, inputs.sourceFrames ?? null)];
      if (row.length_rule !== "num_frames") singleSeconds = Math.min(seconds, row.max_audio_s ?? seconds);
    }
  }
  const frames = jobs.reduce((a, b) => a + b, 0);
  const above = row.price.multiplier_above_frames;
  const costs = jobs.map((f) => costForFrames(row, f, resolution, singleSeconds));
  return {
    known: true,
    auto,
    rate,
    frames,
    segments: jobs.length,
    seconds: (videoFrames ?? frames) / fps,
    usd: costs.includes(null) ? null : Math.round(costs.reduce((a, b) => a + b, 0) * 1e4) / 1e4,
    minApplied: jobs.some((f) => f / fps < (row.price.min_seconds ?? 0)),
    multiplierApplied: Boolean(above && jobs.some((f) => f > above.frames)),
  };
}

export function formatUsd(usd) {
  if (usd == null) return "unknown";
  return `$${usd.toFixed(2)}`;
}

function priceNotes(row, resolution) {
  const notes = [];
  const rate = ratePerSecond(row.price, resolution);
  if (rate != null) notes.push(`${formatUsd(rate)}/s${resolution ? ` at ${resolution}` : ""}`);
  if (row.price.min_seconds) notes.push(`min ${row.price.min_seconds} s`);
  const above = row.price.multiplier_above_frames;
  if (above) notes.push(`×${above.factor} above ${above.frames} frames`);
  return notes;
}

/**
 * One line for the node: "est. $1.62 · 101 frames (4.04 s) at 720p"; for a run longer than one job
 * "est. ~$15.44 · about 3 segments (75.0 s) at 480p"; for an unknown length
 * "auto — depends on audio length · $0.40/s at 720p".
 */
export function formatEstimate(row, inputs = {}) {
  if (!row) return "cost estimate unavailable";
  const resolution = inputs.resolution ?? null;
  const est = estimateCost(row, inputs);
  if (!est.known) {
    const what = row.length_from === "text" ? "text length" : "audio length";
    return [`auto — depends on ${what}`, ...priceNotes(row, resolution)].join(" · ");
  }
  const at = resolution ? ` at ${resolution}` : "";
  if (est.segments > 1) {
    const parts = [`est. ~${formatUsd(est.usd)}`, `about ${est.segments} segments (${est.seconds.toFixed(1)} s)${at}`];
    if (est.multiplierApplied) parts.push(`×${row.price.multiplier_above_frames.factor} above ${row.price.multiplier_above_frames.frames} frames`);
    return parts.join(" · ");
  }
  const parts = [`est. ${formatUsd(est.usd)}`];
  let length = `${est.frames} frames (${est.seconds.toFixed(2)} s)`;
  if (est.auto) length = `auto: ${length}`;
  parts.push(length + at);
  if (est.minApplied) parts.push(`billed as ${row.price.min_seconds} s minimum`);
  if (est.multiplierApplied) parts.push(`×${row.price.multiplier_above_frames.factor} above ${row.price.multiplier_above_frames.frames} frames`);
  return parts.join(" · ");
}

/** The estimate's tooltip: where prices come from, and for a long run how its segments are counted. */
export function estimateNote(row, inputs = {}) {
  if (!row) return "";
  const lines = [`Estimated; prices are not read from fal at run time. ${row.price_source ?? ""}`.trim()];
  const est = estimateCost(row, inputs);
  if (est.known && est.segments > 1) {
    const lr = row.long_run;
    lines.push(
      `A run longer than one fal job is cut into segments that overlap by ${lr.overlap_frames}-${lr.overlap_frames + 3} ` +
        `frames; every segment is billed, overlaps included. The server places the joins in speech pauses ` +
        `and may use up to ${lr.extra_segments} more segments for that, so this estimate counts ${est.frames} ` +
        "frames, the most it can render.",
    );
  }
  return lines.join("\n");
}
