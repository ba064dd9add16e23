// The "fal_avatar.status" websocket event → per-node state, and the status line shown on the node.
// No DOM, no ComfyUI.

// Same wording as the node's own progress text (nodes/pipeline/status.py PHASE_LABELS; a parity test
// compares them).
export const PHASES = Object.freeze({
  validating: "Checking inputs",
  uploading: "Uploading",
  cached: "Using stored result",
  waiting: "Waiting for an identical run",
  submitting: "Submitting",
  reattached: "Re-attached to running job",
  queued: "Queued",
  generating: "Generating",
  downloading: "Downloading",
  segments: "Segments",
  stitching: "Stitching",
  decoding: "Decoding",
  done: "Done",
  error: "Failed",
  cancelled: "Cancelled",
  stopped: "Stopped",
});

// "stopped": the run ended for a reason other than the user (its fal job keeps running for the next run).
const TERMINAL = new Set(["done", "error", "cancelled", "stopped"]);

export function isTerminal(phase) {
  return TERMINAL.has(phase);
}

/** Whether an event is meant for the node with this LiteGraph id. */
export function eventTargetsNode(detail, nodeId) {
  if (!detail) return false;
  const id = String(nodeId);
  return String(detail.node) === id || (detail.display_node != null && String(detail.display_node) === id);
}

export const initialState = Object.freeze({
  phase: null,
  text: "",
  detail: "",
  queuePosition: null,
  elapsedS: 0,
  receivedAt: null,
  requestId: null,
  endpoint: null,
  costUsd: null,
  progress: null,
  audioS: null,
  frames: null,
});

function numberOrNull(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * Fold one event into the node state. `now` is the receive time in ms (for the live elapsed clock).
 * A non-terminal event after a terminal one starts a new run: the request id, cost, frames and
 * progress of the previous run are dropped; the audio length is kept until a new one is reported.
 */
export function reduceStatus(state, detail, now) {
  const phase = Object.hasOwn(PHASES, detail.phase) ? detail.phase : state.phase;
  const newRun = state.phase == null || (isTerminal(state.phase) && !isTerminal(phase));
  const base = newRun ? { ...initialState, audioS: state.audioS } : state;
  const requestId = detail.request_id || base.requestId;
  const reportedAudio = numberOrNull(detail.audio_s);
  const reportedFrames = numberOrNull(detail.frames);
  return {
    ...base,
    phase,
    text: typeof detail.text === "string" ? detail.text : base.text,
    detail: typeof detail.detail === "string" ? detail.detail : base.detail,
    queuePosition: phase === "queued" ? numberOrNull(detail.queue_position) : null,
    elapsedS: numberOrNull(detail.elapsed_s) ?? base.elapsedS,
    receivedAt: now,
    requestId: requestId ?? null,
    endpoint: detail.endpoint || base.endpoint,
    costUsd: numberOrNull(detail.cost_usd) ?? base.costUsd,
    progress: numberOrNull(detail.progress),
    audioS: reportedAudio ?? base.audioS,
    frames: reportedFrames ?? base.frames,
  };
}

// The server re-sends the status every second while a run is active; past this many seconds without
// news the clock stops instead of counting up for a run that may have died.
export const MAX_EXTRAPOLATION_S = 3;

/** Elapsed seconds at `now`: the server's figure plus the time since it arrived while a run is active. */
export function liveElapsed(state, now) {
  if (state.phase == null) return 0;
  if (isTerminal(state.phase) || state.receivedAt == null) return state.elapsedS;
  return state.elapsedS + Math.min(Math.max(0, now - state.receivedAt) / 1000, MAX_EXTRAPOLATION_S);
}

const isActive = (state) => state.phase != null && !isTerminal(state.phase);

/**
 * ComfyUI's "execution_error" ({node_id, exception_message, ...}): when it names this node and the node
 * did not report its own end (e.g. an unexpected exception), show it as failed.
 */
export function reduceExecutionError(state, detail, nodeId, now) {
  if (String(detail?.node_id) !== String(nodeId) || (state.phase != null && !isActive(state))) return state;
  const message = detail.exception_message || detail.exception_type || "the node raised an error";
  return reduceStatus(state, { phase: "error", detail: String(message).trim(), text: "", elapsed_s: liveElapsed(state, now) }, now);
}

/** ComfyUI's "execution_interrupted": a run still shown as active is shown as cancelled. */
export function reduceInterrupted(state, now) {
  if (!isActive(state)) return state;
  return reduceStatus(state, { phase: "cancelled", detail: "interrupted", text: "", elapsed_s: liveElapsed(state, now) }, now);
}

/** mm:ss, or h:mm:ss from one hour on. */
export function formatElapsed(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(2, "0");
  const ss = String(s).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** "3f2a9c1d…" for a long fal request id (UUID); short ids are shown whole. */
export function shortRequestId(requestId, keep = 8) {
  if (!requestId) return "";
  return requestId.length > keep + 4 ? `${requestId.slice(0, keep)}…` : requestId;
}

/**
 * The fal request ids in what a node's request_id output holds: one id, or a long run's segment list
 * "<id>@<start>,…,frames=N" (nodes/longform/reference.py).
 */
export function requestIds(reference) {
  const parts = String(reference ?? "").split(/[,\s]+/).filter(Boolean);
  if (parts.length === 1 && !parts[0].includes("@")) return parts;
  return parts.filter((p) => p.includes("@")).map((p) => p.slice(0, p.indexOf("@")));
}

/** How the status line names the request: "req 3f2a9c1d…", or "3 segments" for a long run's list. */
export function describeRequest(reference) {
  const ids = requestIds(reference);
  if (!ids.length) return "";
  return ids.length === 1 && !String(reference).includes("@") ? `req ${shortRequestId(ids[0])}` : `${ids.length} segments`;
}

/**
 * The status line: "Queued · position 3 · 00:12 · req 3f2a9c1d…"; for a long run
 * "Segments · 43% · segment 3/7 generating · 2 queued · 2 done · 01:23". Empty before the first event.
 * For the error and stopped phases the server's detail (what to do) is appended.
 */
export function formatStatusLine(state, now) {
  if (state.phase == null) return "";
  const parts = [PHASES[state.phase]];
  if (state.phase === "queued" && state.queuePosition != null) parts.push(`position ${state.queuePosition}`);
  if (state.progress != null && !isTerminal(state.phase)) parts.push(`${Math.round(state.progress * 100)}%`);
  if (state.phase === "segments" && state.detail) parts.push(state.detail);
  parts.push(formatElapsed(liveElapsed(state, now)));
  if (state.requestId) parts.push(describeRequest(state.requestId));
  let line = parts.join(" · ");
  if ((state.phase === "error" || state.phase === "stopped") && (state.detail || state.text)) {
    line += ` — ${state.detail || state.text}`;
  }
  return line;
}

/** Facts of the last run worth a second line: frames, audio length, server-side cost estimate. */
export function formatRunDetails(state) {
  const parts = [];
  if (state.frames != null) parts.push(`${state.frames} frames`);
  if (state.audioS != null) parts.push(`audio ${state.audioS.toFixed(2)} s`);
  if (state.costUsd != null) parts.push(`this run est. $${state.costUsd.toFixed(2)}`);
  return parts.join(" · ");
}
