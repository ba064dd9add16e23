// Everything the node's status area shows, as plain data (the DOM layer only copies it into elements).
// No DOM, no ComfyUI.

import { estimateCost, estimateNote, formatEstimate } from "./cost.js";
import { numFramesProblem } from "./frames.js";
import { nodeKeyWarning } from "./key.js";
import { textProblem } from "./long_run.js";
import { FETCH_NODE_TYPE, estimateInputs, unchosenProblems } from "./nodes.js";
import { spendWarning } from "./spend.js";
import { formatRunDetails, formatStatusLine } from "./status.js";

/**
 * typeName: the node's class; row: its endpoint row (undefined if unknown); values: {widget: value};
 * state: the reduced status; keyState: {configured, source} or null; spendState: the spend limit (lib/spend.js)
 * or null; sources: lengths of the files upstream (lib/sources.js sourceLengths); now: ms.
 */
export function nodeViewModel({ typeName, row, values, state, keyState, spendState = null, sources = {}, now }) {
  const priced = typeName !== FETCH_NODE_TYPE; // the fetch node only reads an existing result
  const inputs = estimateInputs(row, values, state, sources);
  const warning = nodeKeyWarning(keyState);
  const estimate = priced && row ? estimateCost(row, inputs) : null;
  const problems = priced && row
    ? [
        ...unchosenProblems(row, values),
        inputs.numFrames != null ? numFramesProblem(row, inputs.numFrames) : null,
        textProblem(row, inputs.text, inputs.numFrames),
      ]
    : [];
  const segments = String(state.requestId ?? "").includes("@"); // a long run's segment list
  return {
    warning: warning?.text ?? "",
    warningHint: warning?.hint ?? "",
    status: formatStatusLine(state, now),
    statusTitle: state.detail || state.text || "",
    isError: state.phase === "error",
    requestId: state.requestId,
    copyLabel: segments ? "copy ids" : "copy id",
    copyTitle: segments
      ? "Copy the whole segment list (for 'fal Avatar: Fetch Result', which rebuilds the video for free)"
      : "Copy the fal request id (for 'fal Avatar: Fetch Result' or the fal dashboard)",
    details: formatRunDetails(state),
    estimate: priced ? formatEstimate(row, inputs) : "",
    estimateTitle: priced ? estimateNote(row, inputs) : "",
    problem: problems.filter(Boolean).join("; ") || null,
    limit: estimate?.known ? spendWarning(estimate.usd, spendState) : null,
  };
}

/** Single-line rows the status area shows for a view model (sizes the DOM widget). */
export function visibleRows(model) {
  return ["warning", "warningHint", "status", "details", "estimate", "problem", "limit"].filter((k) => Boolean(model[k])).length;
}
