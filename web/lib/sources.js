// The length of what feeds a node, before it runs: the file a loader node upstream of its audio (or, for
// dubbing, video) input names, measured by the server (GET /fal_avatar/media_length, headers only).
// No DOM, no ComfyUI.

/** Loader nodes whose file the estimate follows, and the widget that names the file. */
export const LOADER_FILE_WIDGETS = Object.freeze({ LoadAudio: "audio", LoadVideo: "file" });

/** The node inputs followed upstream: the audio (and a second speaker's), and footage's source video. */
export const SOURCE_INPUTS = Object.freeze(["audio", "audio2", "video"]);

/** The file a loader node names, or null for any other node (or an empty widget). */
export function loaderFile(typeName, widgetValues) {
  const widget = LOADER_FILE_WIDGETS[typeName];
  const value = widget ? widgetValues?.[widget] : null;
  return typeof value === "string" && value.trim() ? value : null;
}

/**
 * Lengths measured by the server, by file name. `fetchLengths(name)` resolves to
 * {ok: true, lengths: {audio_s, video_s, video_frames}} or {ok: false, error}; `changed()` is called when
 * an answer arrives. Each name is asked once (a failed answer is kept as unknown).
 */
export function createLengthCache(fetchLengths, changed) {
  const known = new Map(); // name -> lengths | null (unknown) | undefined (being asked)
  return {
    get(name) {
      if (!name) return null;
      if (known.has(name)) return known.get(name) ?? null;
      known.set(name, undefined);
      fetchLengths(name).then((result) => {
        known.set(name, result.ok ? result.lengths : null);
        changed(name);
      });
      return null;
    },
  };
}

/**
 * Estimate inputs from the lengths of the files on the node's inputs ({audio, audio2, video}: lengths or
 * null). Two speakers' tracks play side by side: the longer one sets the length (plan._length_seconds).
 */
export function sourceLengths({ audio = null, audio2 = null, video = null } = {}) {
  const tracks = [audio?.audio_s, audio2?.audio_s].filter((s) => s != null);
  return {
    audioS: tracks.length ? Math.max(...tracks) : null,
    sourceS: video?.video_s ?? null,
    sourceFrames: video?.video_frames ?? null,
  };
}
