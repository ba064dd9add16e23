// Cost estimate for one node from its endpoint row (GET /fal_avatar/endpoints) and its widget values.
// Mirrors nodes/avatar/pricing.py (PriceRule: per second at each resolution, per minute, seconds rounded up,
// billing units of N frames, a minimum, a multiplier above N frames) and nodes/avatar/plan.py (what sets the
// length: num_frames, num_segments, the audio, the text or the footage). The figures are estimates,
// labelled as such. No DOM, no ComfyUI.

import { FPS, autoFrames, framesForSeconds, roundDown4n1, speechSeconds } from "./frames.js";
import { audioRunPlan, framesCovering, textRunPlan } from "./long_run.js";

/** Python's round(x, 6), before a ceiling (so 3.0000000001 s is not billed as 4 s). */
const round6 = (x) => Number(x.toFixed(6));

/** USD per second; an unknown resolution gets the dearest rate (never under-estimate); null: unknown price. */
export function ratePerSecond(price, resolution) {
  if (price?.per === "unknown") return null;
  const table = price?.usd_per_second ?? {};
  for (const key of [resolution, "*"]) {
    if (key != null && Object.hasOwn(table, key)) return table[key];
  }
  const rates = Object.values(table);
  return rates.length ? Math.max(...rates) : null;
}

/** The seconds fal bills for `seconds` of output (PriceRule.billed_seconds). */
export function billedSeconds(price, seconds) {
  let billed = Math.max(seconds, 0);
  if (price.round_up_s) billed = Math.ceil(round6(billed / price.round_up_s)) * price.round_up_s;
  if (price.unit_frames && price.unit_fps) {
    const units = Math.ceil(round6((billed * price.unit_fps) / price.unit_frames));
    billed = (units * price.unit_frames) / price.unit_fps;
  }
  return Math.max(billed, price.min_seconds ?? 0);
}

/**
 * Estimated USD for `seconds` of output (PriceRule.estimate); `frames`: the num_frames requested, where a
 * multiplier applies above a frame count (else the seconds on the 25 fps planning clock). null: unknown price.
 */
export function costForSeconds(row, seconds, resolution, frames = null) {
  const price = row.price;
  const rate = ratePerSecond(price, resolution);
  if (rate == null) return null;
  let cost = billedSeconds(price, seconds) * rate;
  const above = price.multiplier_above_frames;
  if (above && (frames ?? Math.ceil(round6(seconds * FPS))) > above.frames) cost *= above.factor;
  return Math.round(cost * 1e4) / 1e4;
}

/** Estimated USD for a num_frames row's `frames` frames at the row's fps. */
export function costForFrames(row, frames, resolution) {
  return costForSeconds(row, frames / (row.fps ?? FPS), resolution, frames);
}

/**
 * The length the input asks for, in seconds, or null when unknown (plan._length_seconds): the spoken text
 * (both speakers' in turn on two-person text rows), else the audio.
 * inputs.audioS: the audio length reported by the server; inputs.text, inputs.text2: the text widgets.
 */
export function lengthSeconds(row, { audioS = null, text = null, text2 = null } = {}) {
  const texts = [text, text2].filter((t) => t != null && String(t).trim());
  if (row.length_from === "text" && texts.length) {
    return texts.reduce((sum, t) => sum + speechSeconds(t, row.chars_per_second ?? undefined), 0);
  }
  return audioS ?? null;
}

/** Frames of one num_frames job for "auto"; dubbing also stops at the source video's end (plan.auto_frames). */
function singleAutoFrames(row, seconds, sourceFrames) {
  const frames = autoFrames(row, seconds);
  if (sourceFrames == null || row.min_frames == null) return frames;
  return Math.max(Math.min(frames, roundDown4n1(sourceFrames)), row.min_frames);
}

/**
 * Most seconds one job renders at `resolution` (EndpointSpec.max_seconds_at), or null when unknown. Without a
 * resolution, the strictest limit of any.
 */
export function maxSecondsAt(row, resolution) {
  const limits = row.max_seconds ?? {};
  if (Object.hasOwn(limits, "*")) return limits["*"];
  if (resolution != null && Object.hasOwn(limits, resolution)) return limits[resolution];
  const known = Object.values(limits);
  return !known.length || known.includes(null) ? null : Math.min(...known);
}

/**
 * The seconds one job of a row without num_frames renders (and fal bills) for `seconds` of input: at most
 * the row's limit (fal cuts the rest). A num_segments row's video stops with the audio too
 * (plan._output_seconds).
 */
function jobSeconds(row, input, resolution) {
  const limit = maxSecondsAt(row, resolution);
  return limit != null && input > limit + 1e-6 ? limit : input;
}

/**
 * An automatic run longer than one job, or null: it covers the audio, or for footage the source video (its
 * audio stands in while the source's length is unknown).
 */
function longAudioRun(row, { audioS = null, sourceS = null }, resolution) {
  const seconds = row.source_video ? (sourceS ?? audioS) : audioS;
  return seconds == null ? null : audioRunPlan(row, framesCovering(seconds), resolution);
}

/** The value that picks the rate (PriceRule.by: the resolution, or sync v2's model). */
const rateKey = (inputs) => (inputs.rateKey !== undefined ? inputs.rateKey : (inputs.resolution ?? null));

/**
 * Estimate a run.
 * inputs: {numFrames: number|null (null: the node has no num_frames widget), resolution, rateKey (the value
 *          of the row's price.by widget; default: the resolution), audioS, text, text2,
 *          sourceS, sourceFrames (footage: the source video's length and frame count, when known)}
 * Returns {known: true, usd, frames, seconds, auto, rate, minApplied, multiplierApplied, segments, byFrames}
 *      or {known: false, rate, auto: true} when the length is not known yet.
 * `frames` counts what fal renders (and bills) in all on the 25 fps planning clock (num_frames rows: at the
 * row's fps), `seconds` the video's length; `segments` is the number of jobs (1, or for a run longer than one
 * job, about as many as the server's planner will use). `usd` is null where fal's price is unknown.
 */
export function estimateCost(row, inputs = {}) {
  const { numFrames = null, resolution = null } = inputs;
  const key = rateKey(inputs);
  const rate = ratePerSecond(row.price, key);
  const byFrames = row.length_rule === "num_frames";
  const auto = !byFrames || numFrames == null || Number(numFrames) === 0;
  const fps = byFrames ? (row.fps ?? FPS) : FPS;
  let jobs; // [{frames, seconds}]
  let videoFrames = null;
  if (!auto) {
    const frames = Math.trunc(Number(numFrames));
    jobs = [{ frames, seconds: frames / fps }];
  } else {
    const long =
      row.length_from === "text" ? textRunPlan(row, inputs.text ?? "", resolution) : longAudioRun(row, inputs, resolution);
    if (long) {
      // a job of a row without num_frames renders what its piece asks for (at most the row's limit)
      jobs = long.jobs.map((frames) => {
        if (byFrames) return { frames, seconds: frames / fps };
        const seconds = jobSeconds(row, frames / FPS, resolution);
        return { frames: framesForSeconds(seconds), seconds };
      });
      videoFrames = long.videoFrames;
    } else {
      const seconds = lengthSeconds(row, inputs);
      if (seconds == null) return { known: false, auto, rate, byFrames };
      if (byFrames) {
        const frames = singleAutoFrames(row, seconds, inputs.sourceFrames ?? null);
        jobs = [{ frames, seconds: frames / fps }];
      } else {
        const rendered = jobSeconds(row, seconds, resolution);
        jobs = [{ frames: framesForSeconds(rendered), seconds: rendered }];
      }
    }
  }
  const frames = jobs.reduce((a, job) => a + job.frames, 0);
  const costs = jobs.map((job) => costForSeconds(row, job.seconds, key, byFrames ? job.frames : null));
  const price = row.price;
  const above = price.multiplier_above_frames;
  return {
    known: true,
    auto,
    rate,
    byFrames,
    frames,
    segments: jobs.length,
    seconds: videoFrames != null ? videoFrames / fps : jobs.reduce((a, job) => a + job.seconds, 0),
    usd: costs.includes(null) ? null : Math.round(costs.reduce((a, b) => a + b, 0) * 1e4) / 1e4,
    minApplied: jobs.some((job) => job.seconds < (price.min_seconds ?? 0)),
    roundedUp: jobs.some((job) => billedSeconds(price, job.seconds) > Math.max(job.seconds, price.min_seconds ?? 0) + 1e-9),
    multiplierApplied: Boolean(
      above && jobs.some((job) => (byFrames ? job.frames : Math.ceil(round6(job.seconds * FPS))) > above.frames),
    ),
  };
}

export function formatUsd(usd) {
  if (usd == null) return "unknown";
  return `$${usd.toFixed(2)}`;
}

/** The price in fal's own terms: "$0.40/s at 720p", "$3.00/min at lipsync-2-pro", "price unknown". */
function rateNote(row, key) {
  const rate = ratePerSecond(row.price, key);
  if (rate == null) return "price unknown";
  const at = key ? ` at ${key}` : "";
  return row.price.per === "minute" ? `${formatUsd(rate * 60)}/min${at}` : `${formatUsd(rate)}/s${at}`;
}

function priceNotes(row, key) {
  const price = row.price;
  const notes = [rateNote(row, key)];
  if (ratePerSecond(price, key) == null) return notes;
  if (price.min_seconds) notes.push(`min ${price.min_seconds} s`);
  if (price.round_up_s) notes.push(`seconds rounded up`);
  if (price.unit_frames) notes.push(`billed in ${price.unit_frames}-frame units`);
  const above = price.multiplier_above_frames;
  if (above) notes.push(`×${above.factor} above ${above.frames} frames`);
  return notes;
}

/**
 * One line for the node: "est. $1.62 · 101 frames (4.04 s) at 720p" (num_frames rows), "est. $0.96 · 6.00 s
 * at 720p" (the others); for a run longer than one job "est. ~$15.44 · about 3 segments (75.0 s) at 480p";
 * for an unknown length "auto — depends on audio length · $0.40/s at 720p".
 */
export function formatEstimate(row, inputs = {}) {
  if (!row) return "cost estimate unavailable";
  const key = rateKey(inputs);
  const est = estimateCost(row, inputs);
  if (!est.known) {
    const what = row.length_from === "text" ? "text length" : "audio length";
    return [`auto — depends on ${what}`, ...priceNotes(row, key)].join(" · ");
  }
  const at = key ? ` at ${key}` : "";
  const above = row.price.multiplier_above_frames;
  if (est.segments > 1) {
    const parts = [`est. ~${formatUsd(est.usd)}`, `about ${est.segments} segments (${est.seconds.toFixed(1)} s)${at}`];
    if (est.multiplierApplied) parts.push(`×${above.factor} above ${above.frames} frames`);
    if (est.usd == null) parts.push(rateNote(row, key));
    return parts.join(" · ");
  }
  const parts = [`est. ${formatUsd(est.usd)}`];
  let length = est.byFrames ? `${est.frames} frames (${est.seconds.toFixed(2)} s)` : `${est.seconds.toFixed(2)} s`;
  if (est.auto && est.byFrames) length = `auto: ${length}`;
  parts.push(length + at);
  if (est.usd == null) parts.push(rateNote(row, key));
  if (est.minApplied) parts.push(`billed as ${row.price.min_seconds} s minimum`);
  else if (est.roundedUp) parts.push(`billed as ${billedSeconds(row.price, est.seconds).toFixed(2)} s`);
  if (est.multiplierApplied) parts.push(`×${above.factor} above ${above.frames} frames`);
  return parts.join(" · ");
}

/** The estimate's tooltip: where prices come from, and for a long run how its segments are counted. */
export function estimateNote(row, inputs = {}) {
  if (!row) return "";
  const formula = row.price.text ? `Price: ${row.price.text}. ` : "";
  const lines = [`Estimated; prices are not read from fal at run time. ${formula}${row.price_source ?? ""}`.trim()];
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
