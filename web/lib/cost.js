// Cost estimate for one node from its endpoint row (GET /fal_avatar/endpoints) and its widget values.
// Mirrors nodes/avatar/pricing.py; the figures are estimates, labelled as such. No DOM, no ComfyUI.

import { FPS, autoFrames, speechSeconds } from "./frames.js";

/** USD per second; an unknown resolution gets the dearest rate (never under-estimate). */
export function ratePerSecond(price, resolution) {
  const table = price.usd_per_second ?? {};
  for (const key of [resolution, "*"]) {
    if (key != null && Object.hasOwn(table, key)) return table[key];
  }
  const rates = Object.values(table);
  return rates.length ? Math.max(...rates) : null;
}

/** Estimated USD for `frames` frames at the row's fps (pricing.PriceRule.estimate). */
export function costForFrames(row, frames, resolution) {
  const price = row.price;
  const rate = ratePerSecond(price, resolution);
  if (rate == null) return null;
  const seconds = Math.max(frames / (row.fps ?? FPS), price.min_seconds ?? 0);
  let cost = seconds * rate;
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

/**
 * Estimate a run.
 * inputs: {numFrames: number|null (null: the node has no num_frames widget), resolution, audioS, text}
 * Returns {known: true, usd, frames, seconds, auto, rate, minApplied, multiplierApplied}
 *      or {known: false, rate, auto: true} when the length is not known yet.
 */
export function estimateCost(row, inputs = {}) {
  const { numFrames = null, resolution = null } = inputs;
  const rate = ratePerSecond(row.price, resolution);
  const auto = numFrames == null || Number(numFrames) === 0;
  let frames;
  if (auto) {
    const seconds = lengthSeconds(row, inputs);
    if (seconds == null) return { known: false, auto, rate };
    frames = autoFrames(row, seconds);
  } else {
    frames = Math.trunc(Number(numFrames));
  }
  const fps = row.fps ?? FPS;
  const above = row.price.multiplier_above_frames;
  return {
    known: true,
    auto,
    rate,
    frames,
    seconds: frames / fps,
    usd: costForFrames(row, frames, resolution),
    minApplied: frames / fps < (row.price.min_seconds ?? 0),
    multiplierApplied: Boolean(above && frames > above.frames),
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
 * One line for the node: "est. $1.62 · 101 frames (4.04 s) at 720p", or for an unknown length
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
  const parts = [`est. ${formatUsd(est.usd)}`];
  let length = `${est.frames} frames (${est.seconds.toFixed(2)} s)`;
  if (est.auto) length = `auto: ${length}`;
  if (resolution) length += ` at ${resolution}`;
  parts.push(length);
  if (est.minApplied) parts.push(`billed as ${row.price.min_seconds} s minimum`);
  if (est.multiplierApplied) parts.push(`×${row.price.multiplier_above_frames.factor} above ${row.price.multiplier_above_frames.frames} frames`);
  return parts.join(" · ");
}
