// Which nodes the extension decorates and what feeds their estimate. No DOM, no ComfyUI.
// The pack's nodes are those in its menu folder ("fal avatar/..."); the generation nodes are those with an
// endpoint row (GET /fal_avatar/endpoints), so a row added on the server needs nothing here.

export const CATEGORY = "fal avatar";
export const FETCH_NODE_TYPE = "FalAvatarFetchResult";

/** Whether a node definition (an object_info entry) is one of the pack's: it sits in the pack's menu folder. */
export function isOurNodeDef(nodeData) {
  const category = String(nodeData?.category ?? "");
  return category === CATEGORY || category.startsWith(`${CATEGORY}/`);
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
export function estimateInputs(row, values, state, sources = {}) {
  return {
    numFrames: values.num_frames ?? null,
    numSegments: values.num_segments ?? null,
    resolution: values.resolution ?? null,
    text: row?.text_param ? (values[row.text_param] ?? null) : null,
    text2: row?.text2_param ? (values[row.text2_param] ?? null) : null, // two-person text rows
    audioS: sources.audioS ?? state?.audioS ?? null,
    sourceS: sources.sourceS ?? null,
    sourceFrames: sources.sourceFrames ?? null,
  };
}
