// A run longer than one fal job, estimated in the browser the way the server's planner cuts it
// (nodes/avatar/segments.py for audio and source video, nodes/longform/segmenting.py and
// nodes/avatar/text_pieces.py for text). The server places the joins in speech pauses, which only the audio
// analysis knows, so the estimate leans up: it bills the most the planner can render for its segment count.
// The figures (frame limits, overlap, margin, text slack) come from the endpoint row's `long_run`.
// No DOM, no ComfyUI.

import { CHARS_PER_SECOND, FPS, roundDown4n1, roundUp4n1, speechUnits } from "./frames.js";

/** Frames that cover `seconds` at 25 fps, not rounded to 4n+1 (frames.frames_covering). */
export function framesCovering(seconds) {
  return Math.ceil(Number((seconds * FPS).toFixed(6)));
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x) {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The frame limits one job of this row accepts at `resolution` (segments.frame_rule), or null without a
 * `long_run`. `long_run.max_frames_at` holds per-resolution limits; `max_frames` is the strictest of them.
 */
export function segmentRule(row, resolution = null) {
  const lr = row?.long_run;
  if (!lr) return null;
  const maxFrames = lr.max_frames_at?.[resolution] ?? lr.max_frames;
  return {
    minFrames: lr.min_frames,
    maxFrames,
    overlap: lr.overlap_frames,
    margin: lr.margin_frames,
    extra: lr.extra_segments,
    usable: roundDown4n1(maxFrames - lr.margin_frames),
  };
}

/** Whether `totalFrames` (the audio, or dubbing's source video) needs more than one job. */
export function needsSegments(row, totalFrames, resolution = null) {
  const rule = segmentRule(row, resolution);
  return Boolean(rule) && roundUp4n1(Math.max(totalFrames, rule.minFrames)) > rule.maxFrames;
}

/**
 * The fewest segments whose equal-length cuts fit (segments.plan_segments without a speech profile): the
 * planner starts there and may take up to `extra` more to put the joins in pauses.
 */
export function fewestSegments(rule, totalFrames) {
  const { overlap, usable } = rule;
  const half = Math.floor(overlap / 2);
  const minLen = Math.max(roundUp4n1(rule.minFrames) - 3, overlap + 1);
  const least = Math.max(2, Math.ceil((totalFrames - overlap) / (usable - overlap)));
  for (let count = least; count < least + rule.extra + 2; count++) {
    const cuts = Array.from({ length: count - 1 }, (_, i) => half + roundHalfEven(((i + 1) * (totalFrames - overlap)) / count));
    const starts = [0, ...cuts.map((c) => c - half)];
    const ends = [...cuts.map((c) => c + overlap - half), totalFrames];
    const lengths = starts.map((s, i) => ends[i] - s);
    const last = lengths.pop();
    if (lengths.every((n) => n >= minLen && n <= usable) && last > overlap && last <= usable) return count;
  }
  return least + rule.extra + 1;
}

/** `total` frames split into `count` jobs as evenly as whole frames allow (for per-job pricing). */
function shares(total, count) {
  const base = Math.floor(total / count);
  return Array.from({ length: count }, (_, i) => base + (i < total - base * count ? 1 : 0));
}

/**
 * An audio (or source video) of `totalFrames` output frames cut into segments.
 * Returns {count, jobs: [frames billed per job], videoFrames} or null when one job covers it.
 * Billed frames lean up: every join of the most segments the planner may use (count + extra) overlaps by
 * the most the 4n+1 rounding allows (overlap + 3 frames), and the last segment is padded by up to 3.
 */
export function audioRunPlan(row, totalFrames, resolution = null) {
  if (!needsSegments(row, totalFrames, resolution)) return null;
  const rule = segmentRule(row, resolution);
  const count = fewestSegments(rule, totalFrames);
  const billed = totalFrames + (count + rule.extra - 1) * (rule.overlap + 3) + 3;
  return { count, jobs: shares(billed, count), videoFrames: totalFrames };
}

// Where a piece of text may end (nodes/avatar/text_pieces.py): sentence ends, else clause ends, else
// between words (a CJK character is a word), else between characters.
const CLOSERS = "\"'”’»)\\]}」』）】〉》";
// Unicode's Sentence_Terminal and Terminal_Punctuation (the ASCII ones count only before a space).
const ASCII_END = "(?![.!?,;:])";
const SENTENCE_END = new RegExp(
  `[.!?…]+[${CLOSERS}]*(?=\\s|$)|(?:${ASCII_END}\\p{Sentence_Terminal})+[${CLOSERS}]*`, "gu");
const CLAUSE_END = new RegExp(
  `[,;:–][${CLOSERS}]*(?=\\s)|—+[${CLOSERS}]*|(?:${ASCII_END}(?!\\p{Sentence_Terminal})\\p{Terminal_Punctuation}|、)[${CLOSERS}]*`,
  "gu");
const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/u;
const OPENER = /[\p{Ps}\p{Pi}]/u;
const SPACE = /\s/u;

/** Spoken length as the server counts it: whitespace runs count as one character, a character of a
 * slower-spoken script more (frames.speechUnits). */
export function spokenLength(text) {
  return speechUnits(text);
}

function breaks(text, start, end, level) {
  if (level === 0 || level === 1) {
    const pattern = level === 0 ? SENTENCE_END : CLAUSE_END;
    const out = [];
    const part = text.slice(start, end);
    for (const m of part.matchAll(pattern)) out.push(start + m.index + m[0].length);
    return out;
  }
  const out = [];
  for (let i = start + 1; i < end; i++) {
    const prev = text[i - 1];
    if (level === 2) {
      if ((SPACE.test(text[i]) && !SPACE.test(prev)) || (CJK.test(text[i]) && !SPACE.test(prev) && !OPENER.test(prev))) out.push(i);
    } else if (!/\p{M}/u.test(text[i])) {
      out.push(i);
    }
  }
  return out;
}

function strip(text, start, end) {
  while (start < end && SPACE.test(text[start])) start++;
  while (end > start && SPACE.test(text[end - 1])) end--;
  return [start, end];
}

/** [start, end) spans of the atoms of text[start, end): pieces at `level`, deeper where they do not fit. */
function atoms(text, start, end, level, maxChars, out) {
  const cuts = [start, ...breaks(text, start, end, level), end];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const [a, b] = strip(text, cuts[i], cuts[i + 1]);
    if (a === b) continue;
    if (level === 3 || spokenLength(text.slice(a, b)) <= maxChars) out.push([a, b]);
    else atoms(text, a, b, level + 1, maxChars, out);
  }
  return out;
}

/** The fewest pieces of at most `maxChars` spoken characters (text_pieces._fewest_pieces). */
export function textPieceCount(text, maxChars) {
  const spans = atoms(text, 0, text.length, 0, maxChars, []);
  if (!spans.length) return 0;
  let count = 1;
  let length = spokenLength(text.slice(...spans[0]));
  for (let i = 1; i < spans.length; i++) {
    const gap = SPACE.test(text.slice(spans[i - 1][1], spans[i][0])) ? 1 : 0;
    const next = spokenLength(text.slice(...spans[i]));
    if (length + gap + next > maxChars) {
      count += 1;
      length = next;
    } else {
      length += gap + next;
    }
  }
  return count;
}

/** Frames a job gets to speak `chars` characters (text_pieces.text_frames). */
function textFrames(row, chars) {
  const lr = row.long_run;
  const cps = row.chars_per_second ?? CHARS_PER_SECOND;
  return roundUp4n1(framesCovering((chars / cps) * lr.text_slack + lr.text_tail_s));
}

/**
 * A text cut into pieces, one job each. Returns {count, jobs: [frames billed per job], videoFrames} or null
 * when one job speaks it. Billed frames lean up: each piece's speech estimate is rounded up as far as
 * the 4n+1 rounding can go (4 frames) and the whole text is counted (the whitespace at the joins too).
 */
export function textRunPlan(row, text, resolution = null) {
  // only a num_frames row with one text is split; a text row without num_frames, and two speakers' texts,
  // are one job (longform/segmenting.py _text_plan)
  if (row.length_rule !== "num_frames" || row.text2_param) return null;
  const rule = segmentRule(row, resolution);
  const chars = spokenLength(text);
  if (!rule || !chars || textFrames(row, chars) <= rule.maxFrames) return null;
  const lr = row.long_run;
  const cps = row.chars_per_second ?? CHARS_PER_SECOND;
  let maxSeconds = ((rule.maxFrames - rule.margin) / FPS - lr.text_tail_s) / lr.text_slack;
  if (row.max_text_chars) maxSeconds = Math.min(maxSeconds, row.max_text_chars / cps);
  const maxChars = Math.floor(maxSeconds * cps + 1e-9);
  const count = textPieceCount(String(text).trim(), maxChars);
  const speech = ((chars / cps) * lr.text_slack + count * lr.text_tail_s) * FPS;
  const billed = Math.max(Math.ceil(speech) + 4 * count, count * rule.minFrames);
  return { count, jobs: shares(billed, count), videoFrames: billed - (count - 1) * rule.overlap };
}

/**
 * Why the server would refuse this text, or null: the widget's limit (a whole long run), or, with an
 * explicit num_frames (one job), fal's limit per job (nodes/avatar/plan.py).
 */
export function textProblem(row, text, numFrames) {
  if (text == null || row?.length_from !== "text") return null;
  const raw = String(text);
  const name = row.text_param ?? "text";
  if (row.text_max_length && raw.length > row.text_max_length) {
    return `${name} is ${raw.length} characters long; the limit is ${row.text_max_length}`;
  }
  const oneJob = raw.trim().length;
  if (Number(numFrames) !== 0 && row.max_text_chars && oneJob > row.max_text_chars) {
    return `${name} is ${oneJob} characters; one fal job speaks at most ${row.max_text_chars}: set num_frames to 0 (auto) to split it into segments`;
  }
  return null;
}
