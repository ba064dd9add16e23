// The pack's HTTP routes, called through ComfyUI's api.fetchApi (same origin, ComfyUI's auth headers).

import { readDoctorResponse } from "../lib/doctor.js";
import { readKeyResponse } from "../lib/key.js";
import { rowsByNodeId } from "../lib/nodes.js";
import { readQueueAheadResponse } from "../lib/queue_ahead.js";
import { readSpendResponse } from "../lib/spend.js";

async function keyRequest(api, options) {
  try {
    return await readKeyResponse(await api.fetchApi("/fal_avatar/key", options));
  } catch (err) {
    return { ok: false, error: `the server did not answer (${err?.message ?? err})` };
  }
}

/** {ok, state: {configured, source}} | {ok: false, error}. */
export const getKeyState = (api) => keyRequest(api, { method: "GET", cache: "no-store" });

export const saveKey = (api, key) =>
  keyRequest(api, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ key }),
  });

export const forgetKey = (api) => keyRequest(api, { method: "DELETE" });

/** {node_id: row}; empty when the route is missing (estimates then say "unavailable"). */
export async function getEndpointRows(api) {
  try {
    const response = await api.fetchApi("/fal_avatar/endpoints");
    return response.ok ? rowsByNodeId(await response.json()) : {};
  } catch {
    return {};
  }
}

/** The server's health check: {ok, report} | {ok: false, error}. Takes seconds (it asks fal). */
export async function runDoctor(api) {
  try {
    return await readDoctorResponse(await api.fetchApi("/fal_avatar/doctor", { cache: "no-store" }));
  } catch (err) {
    return { ok: false, error: `the server did not answer (${err?.message ?? err})` };
  }
}

async function spendRequest(api, options) {
  try {
    return await readSpendResponse(await api.fetchApi("/fal_avatar/settings", options));
  } catch (err) {
    return { ok: false, error: `the server did not answer (${err?.message ?? err})` };
  }
}

/** The spend limit per run: {ok, state: {limit, source, env, defaultUsd, error}} | {ok: false, error}. */
export const getSpendState = (api) => spendRequest(api, { method: "GET", cache: "no-store" });

/** Save the limit in USD (null: back to the default). */
export const saveSpendLimit = (api, usd) =>
  spendRequest(api, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ max_usd_per_run: usd }),
  });

async function queueAheadRequest(api, options) {
  try {
    return await readQueueAheadResponse(await api.fetchApi("/fal_avatar/queue_ahead", options));
  } catch (err) {
    return { ok: false, error: `the server did not answer (${err?.message ?? err})` };
  }
}

/** The queue-ahead setting and the early jobs of queued prompts (lib/queue_ahead.js). */
export const getQueueAheadState = (api) => queueAheadRequest(api, { method: "GET", cache: "no-store" });

/** Save how many queued prompts start early (null: back to the default). */
export const saveQueueAhead = (api, prompts) =>
  queueAheadRequest(api, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ queue_ahead_prompts: prompts }),
  });

/** The lengths of a file in ComfyUI's input folder: {ok, lengths: {audio_s, video_s, video_frames}} | {ok: false, error}. */
export async function getMediaLengths(api, name) {
  try {
    const response = await api.fetchApi(`/fal_avatar/media_length?file=${encodeURIComponent(name)}`);
    const body = await response.json();
    return response.ok ? { ok: true, lengths: body } : { ok: false, error: body?.error ?? `HTTP ${response.status}` };
  } catch (err) {
    return { ok: false, error: String(err?.message ?? err) };
  }
}
