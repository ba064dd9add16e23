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

/** Estimated spoken length of `text` in the built-in voices. */
export function speechSeconds(text, charsPerSecond = CHARS_PER_SECOND) {
  return String(text ?? "").split(/\s+/).filter(Boolean).join(" ").length / charsPerSecond;
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
