import { test } from "node:test";
import assert from "node:assert/strict";

import {
  describeRequest,
  eventTargetsNode,
  formatElapsed,
  formatRunDetails,
  formatStatusLine,
  initialState,
  isTerminal,
  MAX_EXTRAPOLATION_S,
  liveElapsed,
  reduceExecutionError,
  reduceInterrupted,
  reduceStatus,
  requestIds,
  shortRequestId,
} from "../../web/lib/status.js";

const RID = "3f2a9c1d-5b6e-4f70-8a91-b2c3d4e5f607";

function event(fields) {
  return {
    node: "7",
    display_node: "7",
    phase: "queued",
    text: "",
    queue_position: null,
    elapsed_s: 0,
    request_id: null,
    endpoint: "fal-ai/infinitalk",
    cost_usd: null,
    progress: null,
    ...fields,
  };
}

test("events are matched to nodes by id (node or display_node)", () => {
  assert.equal(eventTargetsNode(event({}), 7), true);
  assert.equal(eventTargetsNode(event({}), "7"), true);
  assert.equal(eventTargetsNode(event({ node: "12", display_node: "12" }), 7), false);
  assert.equal(eventTargetsNode(event({ node: "12:7", display_node: "7" }), 7), true);
  assert.equal(eventTargetsNode(null, 7), false);
});

test("elapsed is mm:ss, h:mm:ss from an hour", () => {
  assert.equal(formatElapsed(0), "00:00");
  assert.equal(formatElapsed(5.9), "00:05");
  assert.equal(formatElapsed(65), "01:05");
  assert.equal(formatElapsed(3599), "59:59");
  assert.equal(formatElapsed(3661), "1:01:01");
  assert.equal(formatElapsed(-3), "00:00");
});

test("request ids are shortened, short ones kept", () => {
  assert.equal(shortRequestId(RID), "3f2a9c1d…");
  assert.equal(shortRequestId("abc"), "abc");
  assert.equal(shortRequestId(null), "");
});

test("a queued → generating → done run", () => {
  let s = reduceStatus(initialState, event({ phase: "submitting", elapsed_s: 1 }), 1000);
  assert.equal(formatStatusLine(s, 1000), "Submitting · 00:01");
  s = reduceStatus(s, event({ phase: "reattached", elapsed_s: 1 }), 1000);
  assert.equal(formatStatusLine(s, 1000), "Re-attached to running job · 00:01");
  s = reduceStatus(s, event({ phase: "queued", queue_position: 3, elapsed_s: 12, request_id: RID }), 2000);
  assert.equal(s.requestId, RID);
  assert.equal(formatStatusLine(s, 2000), `Queued · position 3 · 00:12 · req 3f2a9c1d…`);
  // the clock runs between events while active
  assert.equal(formatStatusLine(s, 5500), `Queued · position 3 · 00:15 · req 3f2a9c1d…`);
  // request id survives events that omit it; queue position is only shown while queued
  s = reduceStatus(s, event({ phase: "generating", elapsed_s: 20, progress: 0.456 }), 3000);
  assert.equal(s.requestId, RID);
  assert.equal(s.queuePosition, null);
  assert.equal(formatStatusLine(s, 3000), `Generating · 46% · 00:20 · req 3f2a9c1d…`);
  s = reduceStatus(s, event({ phase: "done", elapsed_s: 42, progress: 1, cost_usd: 1.616, frames: 101, audio_s: 4 }), 4000);
  // terminal: the clock stops, progress is not shown
  assert.equal(formatStatusLine(s, 99000), `Done · 00:42 · req 3f2a9c1d…`);
  assert.equal(liveElapsed(s, 99000), 42);
  assert.equal(formatRunDetails(s), "101 frames · audio 4.00 s · this run est. $1.62");
});

test("a new run after a terminal phase drops the old request but keeps the audio length", () => {
  let s = reduceStatus(initialState, event({ phase: "done", request_id: RID, cost_usd: 1, audio_s: 4, frames: 101 }), 0);
  s = reduceStatus(s, event({ phase: "validating", elapsed_s: 0 }), 10);
  assert.equal(s.requestId, null);
  assert.equal(s.costUsd, null);
  assert.equal(s.frames, null);
  assert.equal(s.audioS, 4);
  s = reduceStatus(s, event({ phase: "uploading", audio_s: 6.5 }), 20);
  assert.equal(s.audioS, 6.5);
});

test("errors show the server's detail (else its text); cached results", () => {
  let s = reduceStatus(initialState, event({ phase: "error", elapsed_s: 3, text: "Failed · x · 0:03", detail: "fal rejected the key (401): check it" }), 0);
  assert.equal(formatStatusLine(s, 0), "Failed · 00:03 — fal rejected the key (401): check it");
  s = reduceStatus(initialState, event({ phase: "error", elapsed_s: 3, text: "boom" }), 0);
  assert.equal(formatStatusLine(s, 0), "Failed · 00:03 — boom");
  s = reduceStatus(initialState, event({ phase: "cached", request_id: "r1" }), 0);
  assert.equal(formatStatusLine(s, 0), "Using stored result · 00:00 · req r1");
});

test("unknown phases and junk numbers do not break the state", () => {
  let s = reduceStatus(initialState, event({ phase: "queued", queue_position: 2 }), 0);
  s = reduceStatus(s, event({ phase: "warp", elapsed_s: "x", queue_position: "y", progress: NaN }), 1000);
  assert.equal(s.phase, "queued");
  assert.equal(s.elapsedS, 0);
  assert.equal(s.queuePosition, null);
  assert.equal(s.progress, null);
  assert.equal(formatStatusLine(initialState, 0), "");
  assert.equal(formatRunDetails(initialState), "");
});

test("the live clock stops when the server goes quiet", () => {
  const s = reduceStatus(initialState, event({ phase: "generating", elapsed_s: 10 }), 0);
  assert.equal(liveElapsed(s, 2000), 12);
  assert.equal(liveElapsed(s, 60_000), 10 + MAX_EXTRAPOLATION_S);
});

test("ComfyUI's execution_error marks a still-active node as failed", () => {
  let s = reduceStatus(initialState, event({ phase: "validating", elapsed_s: 1 }), 0);
  const error = { node_id: "7", exception_type: "AttributeError", exception_message: "'X' object has no attribute 'y'\n" };
  assert.equal(reduceExecutionError(s, { ...error, node_id: "8" }, 7, 0), s); // another node
  s = reduceExecutionError(s, error, 7, 1000);
  assert.equal(s.phase, "error");
  assert.equal(formatStatusLine(s, 1000), "Failed · 00:02 — 'X' object has no attribute 'y'");
  // a node that already reported its own end keeps its message
  const own = reduceStatus(initialState, event({ phase: "error", detail: "fal said no" }), 0);
  assert.equal(reduceExecutionError(own, error, 7, 0), own);
  // a node that failed before its first status (e.g. missing input) is shown too
  assert.equal(reduceExecutionError(initialState, { node_id: 7, exception_message: "boom" }, "7", 0).phase, "error");
});

test("execution_interrupted cancels active runs only", () => {
  const active = reduceStatus(initialState, event({ phase: "queued", queue_position: 1, elapsed_s: 4 }), 0);
  const s = reduceInterrupted(active, 1000);
  assert.equal(s.phase, "cancelled");
  assert.equal(formatStatusLine(s, 9000), "Cancelled · 00:05");
  const done = reduceStatus(initialState, event({ phase: "done" }), 0);
  assert.equal(reduceInterrupted(done, 0), done);
  assert.equal(reduceInterrupted(initialState, 0), initialState);
});

const LIST = "3f2a9c1d-0000-4000-8000-000000000001@0,7b1e22aa-0000-4000-8000-000000000002@689,c0ffee00-0000-4000-8000-000000000003@1378,frames=2125";

test("a long run: waiting, the combined segments line, stitching, and its segment list", () => {
  let s = reduceStatus(initialState, event({ phase: "validating", detail: "planning", elapsed_s: 0 }), 0);
  s = reduceStatus(s, event({ phase: "waiting", detail: "an identical run (node 4) is on it", elapsed_s: 1 }), 1000);
  assert.equal(formatStatusLine(s, 1000), "Waiting for an identical run · 00:01");
  s = reduceStatus(s, event({
    phase: "segments", detail: "segment 3/7 generating · 2 queued · 2 done", elapsed_s: 83, progress: 0.43, cost_usd: 14.4,
  }), 2000);
  assert.equal(formatStatusLine(s, 2000), "Segments · 43% · segment 3/7 generating · 2 queued · 2 done · 01:23");
  assert.equal(formatRunDetails(s), "this run est. $14.40");
  s = reduceStatus(s, event({ phase: "stitching", detail: "frame 400/2125", elapsed_s: 90, progress: 0.19 }), 3000);
  assert.equal(formatStatusLine(s, 3000), "Stitching · 19% · 01:30");
  s = reduceStatus(s, event({ phase: "done", elapsed_s: 95, request_id: LIST, frames: 2125, cost_usd: 14.4 }), 4000);
  assert.equal(formatStatusLine(s, 4000), "Done · 01:35 · 3 segments");
  assert.equal(s.requestId, LIST); // the copy button copies the whole list
  assert.equal(formatRunDetails(s), "2125 frames · this run est. $14.40");
});

test("request ids: one id, or the ids of a segment list", () => {
  assert.deepEqual(requestIds(RID), [RID]);
  assert.deepEqual(requestIds(LIST), [
    "3f2a9c1d-0000-4000-8000-000000000001", "7b1e22aa-0000-4000-8000-000000000002", "c0ffee00-0000-4000-8000-000000000003",
  ]);
  assert.equal(describeRequest(RID), "req 3f2a9c1d…");
  assert.equal(describeRequest(LIST), "3 segments");
  assert.equal(describeRequest(null), "");
});

test("stopped is an end: the clock stops and the server says why", () => {
  const s = reduceStatus(initialState, event({
    phase: "stopped", elapsed_s: 7, request_id: RID, detail: "fal job 3f2a left running; the next run re-attaches to it",
  }), 0);
  assert.equal(isTerminal("stopped"), true);
  assert.equal(formatStatusLine(s, 60_000), `Stopped · 00:07 · req 3f2a9c1d… — fal job 3f2a left running; the next run re-attaches to it`);
  assert.equal(reduceInterrupted(s, 0), s);
});
