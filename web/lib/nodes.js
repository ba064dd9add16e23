// Which nodes the extension decorates and what feeds their estimate. No DOM, no ComfyUI.
// The pack's nodes are those in its menu folder ("fal avatar/..."); the generation nodes are those with an
// endpoint row (GET /fal_avatar/endpoints), so a row added on the server needs nothing here.

export const CATEGORY = "fal avatar";
// The first option of a required choice without a default (nodes/avatar/row.py CHOOSE): not a value yet.
export const CHOOSE = "choose…";
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

/** "resolution: choose 720p or 480p" for each required choice still at its placeholder, else []. */
export function unchosenProblems(row, values) {
  return (row?.required_choices ?? [])
    .filter((name) => values[name] === CHOOSE)
    .map((name) => `${name}: choose one (fal has no default; the run is refused until then)`);
}

/**
 * Estimate inputs from widget values ({name: value}), the node's status state and the lengths of the files
 * upstream (lib/sources.js sourceLengths): a loader's file wins over the audio length of the last run.
 */
export function estimateInputs(row, values, state, sources = {}) {
  const chosen = (name) => (values[name] === CHOOSE ? null : (values[name] ?? null));
  return {
    numFrames: values.num_frames ?? null,
    resolution: chosen("resolution"),
    rateKey: chosen(row?.price?.by ?? "resolution"), // the widget that picks the rate (sync v2: its model)
    text: row?.text_param ? (values[row.text_param] ?? null) : null,
    text2: row?.text2_param ? (values[row.text2_param] ?? null) : null, // two-person text rows
    audioS: sources.audioS ?? state?.audioS ?? null,
    sourceS: sources.sourceS ?? null,
    sourceFrames: sources.sourceFrames ?? null,
  };
}
