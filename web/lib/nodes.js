// Which nodes the extension decorates and which of their widgets feed the estimate. No DOM, no ComfyUI.

export const NODE_TYPES = Object.freeze([
  "FalInfiniTalkImageToVideo",
  "FalInfiniTalkTextToVideo",
  "FalInfiniTalkVideoToVideo",
  "FalStableAvatar",
  "FalAvatarFetchResult",
]);

/** Nodes that start a paid generation (the fetch node only reads an existing result). */
export const PRICED_NODE_TYPES = Object.freeze(NODE_TYPES.filter((t) => t !== "FalAvatarFetchResult"));

/** Widgets whose changes re-compute the estimate. */
export const ESTIMATE_WIDGETS = Object.freeze(["num_frames", "resolution", "text_input"]);

export function isOurNode(typeName) {
  return NODE_TYPES.includes(typeName);
}

/** {node_id: row} from the body of GET /fal_avatar/endpoints. */
export function rowsByNodeId(body) {
  const rows = {};
  for (const row of body?.endpoints ?? []) {
    if (row?.node_id && row.price) rows[row.node_id] = row;
  }
  return rows;
}

/**
 * Estimate inputs from widget values ({name: value}), the node's status state and the lengths of the files
 * upstream (lib/sources.js sourceLengths): a loader's file wins over the audio length of the last run.
 */
export function estimateInputs(values, state, sources = {}) {
  return {
    numFrames: values.num_frames ?? null,
    resolution: values.resolution ?? null,
    text: values.text_input ?? null,
    audioS: sources.audioS ?? state?.audioS ?? null,
    sourceS: sources.sourceS ?? null,
    sourceFrames: sources.sourceFrames ?? null,
  };
}
