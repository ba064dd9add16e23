// Everything the node's status area shows, as plain data (the DOM layer only copies it into elements).
// No DOM, no ComfyUI.

import { formatEstimate } from "./cost.js";
import { numFramesProblem } from "./frames.js";
import { nodeKeyWarning } from "./key.js";
import { PRICED_NODE_TYPES, estimateInputs } from "./nodes.js";
import { formatRunDetails, formatStatusLine } from "./status.js";

/**
 * typeName: the node's class; row: its endpoint row (undefined if unknown); values: {widget: value};
 * state: the reduced status; keyState: {configured, source} or null; now: ms.
 */
export function nodeViewModel({ typeName, row, values, state, keyState, now }) {
  const priced = PRICED_NODE_TYPES.includes(typeName);
  const inputs = estimateInputs(values, state);
  const warning = nodeKeyWarning(keyState);
  return {
    warning: warning?.text ?? "",
    warningHint: warning?.hint ?? "",
    status: formatStatusLine(state, now),
    statusTitle: state.detail || state.text || "",
    isError: state.phase === "error",
    requestId: state.requestId,
    details: formatRunDetails(state),
    estimate: priced ? formatEstimate(row, inputs) : "",
    estimateTitle: row ? `Estimated; prices are not read from fal at run time. ${row.price_source ?? ""}`.trim() : "",
    problem: priced && row && inputs.numFrames != null ? numFramesProblem(row, inputs.numFrames) : null,
  };
}

/** Single-line rows the status area shows for a view model (sizes the DOM widget). */
export function visibleRows(model) {
  return ["warning", "warningHint", "status", "details", "estimate", "problem"].filter((k) => Boolean(model[k])).length;
}
