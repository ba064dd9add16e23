// Frame arithmetic of the avatar endpoints (mirrors nodes/avatar/frames.py).
// InfiniTalk renders 25 fps in blocks of 4 frames plus one (4n+1). No DOM, no ComfyUI.

export const FPS = 25;

// Spoken characters per second of the built-in voices; nodes/avatar/frames.py CHARS_PER_SECOND.
// An endpoint row may carry its own `chars_per_second`, which wins.
export const CHARS_PER_SECOND = 14.0;

/** Smallest 4n+1 that is >= frames. */
export function roundUp4n1(frames) {
  const f = Math.max(Math.trunc(frames), 1);
  return f + (((1 - f) % 4) + 4) % 4;
}

/** Largest 4n+1 that is <= frames (at least 1). */
export function roundDown4n1(frames) {
  const f = Math.max(Math.trunc(frames), 1);
  return f - ((f - 1) % 4);
}

/** Frames that cover `seconds` at `fps`, rounded up to 4n+1. */
export function framesForSeconds(seconds, fps = FPS) {
  return roundUp4n1(Math.ceil(Number((seconds * fps).toFixed(6))));
}

// Characters per second of slower-spoken scripts (nodes/avatar/speech_rate.py, which cites the figures):
// [first code point, last code point, characters per second]. Everything else: CHARS_PER_SECOND.
const SCRIPT_RATES = [
  [0x3040, 0x30ff, 7.84], // Hiragana, Katakana
  [0x31f0, 0x31ff, 7.84], // Katakana Phonetic Extensions
  [0xff66, 0xff9d, 7.84], // halfwidth Katakana
  [0x3400, 0x4dbf, 5.18], // CJK Unified Ideographs Extension A
  [0x4e00, 0x9fff, 5.18], // CJK Unified Ideographs
  [0xf900, 0xfaff, 5.18], // CJK Compatibility Ideographs
  [0x20000, 0x3ffff, 5.18], // Supplementary and Tertiary Ideographic Planes
  [0xac00, 0xd7af, 5.18], // Hangul Syllables (Mandarin's rate stands in)
];

/** How many Latin characters' worth of speaking time `char` takes (speech_rate.char_weight). */
export function charWeight(char) {
  const code = char.codePointAt(0);
  if (code < 0x3040) return 1;
  for (const [first, last, rate] of SCRIPT_RATES) if (code >= first && code <= last) return CHARS_PER_SECOND / rate;
  return 1;
}

/** The text's length in Latin characters' worth of speech: whitespace runs count as one (speech_units). */
export function speechUnits(text) {
  let units = 0;
  let gap = false;
  for (const char of String(text ?? "")) {
    if (/\s/u.test(char)) {
      gap = units > 0;
    } else {
      units += charWeight(char) + (gap ? 1 : 0);
      gap = false;
    }
  }
  return units;
}

/** Estimated spoken length of `text` in the built-in voices. */
export function speechSeconds(text, charsPerSecond = CHARS_PER_SECOND) {
  return speechUnits(text) / charsPerSecond;
}

/**
 * Frames rendered for "auto" (num_frames 0), or for an endpoint without num_frames whose length follows
 * the audio: the length at the row's fps, rounded up to 4n+1, clamped to the row's frame range (or, for
 * rows without a range, to `max_audio_s`).
 */
export function autoFrames(row, seconds) {
  const fps = row.fps ?? FPS;
  if (row.min_frames == null || row.max_frames == null) {
    const capped = row.max_audio_s != null ? Math.min(seconds, row.max_audio_s) : seconds;
    return framesForSeconds(capped, fps);
  }
  return Math.max(Math.min(framesForSeconds(seconds, fps), row.max_frames), row.min_frames);
}

/** Why `numFrames` would be refused by the server, or null if it is fine (0 = auto is fine). */
export function numFramesProblem(row, numFrames) {
  const n = Number(numFrames);
  if (row.min_frames == null || row.max_frames == null || n === 0) return null;
  if (!Number.isInteger(n) || n < row.min_frames || n > row.max_frames) {
    return `num_frames ${numFrames} is outside ${row.min_frames}..${row.max_frames}; use 0 for auto`;
  }
  if (n % 4 !== 1) {
    const choices = [roundDown4n1(n), roundUp4n1(n)].filter((f) => f >= row.min_frames && f <= row.max_frames);
    return `num_frames ${n} is not 4n+1; use ${choices.join(" or ")}, or 0 for auto`;
  }
  return null;
}
