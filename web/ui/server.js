// The pack's HTTP routes, called through ComfyUI's api.fetchApi (same origin, ComfyUI's auth headers).

import { readDoctorResponse } from "../lib/doctor.js";
import { readKeyResponse } from "../lib/key.js";
import { rowsByNodeId } from "../lib/nodes.js";

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
