// What the settings panel and the nodes say about the server's fal key (never the key itself).
// Input: the body of GET/POST/DELETE /fal_avatar/key, {configured: bool, source: "env"|"saved"|null}.
// No DOM, no ComfyUI.
import { readJsonResponse } from "./response.js";

export const SETTINGS_PATH = "Settings → fal avatar → fal API key";

/** One sentence for the settings panel (state null: not known yet). */
export function describeKeyState(state) {
  if (!state) return "Checking the server…";
  if (!state.configured) return "No fal key on the server yet. Paste one below (made at fal.ai/dashboard/keys).";
  if (state.source === "env") {
    return "A key is set from the environment (FAL_KEY or FAL_KEY_ID/FAL_KEY_SECRET); it wins over a saved key.";
  }
  if (state.source === "saved") return "A key is saved on the server (private file, never in workflows).";
  return "A key is set on the server.";
}

/**
 * The two-line warning shown on the nodes ({text, hint}), or null when a key is configured or the state
 * is not known (route missing, server not answering).
 */
export function nodeKeyWarning(state) {
  if (!state || state.configured) return null;
  return {
    text: "No fal API key on the server",
    hint: `Paste it in ${SETTINGS_PATH}, or set FAL_KEY before starting ComfyUI.`,
  };
}

/** Normalise what a user pasted; returns {key} or {error} (the server checks again). */
export function checkPastedKey(text) {
  let key = String(text ?? "").trim();
  if (/^key\s/i.test(key)) key = key.slice(4).trim();
  if (!key) return { error: "Paste a key first." };
  if (/\s/.test(key) || !key.includes(":")) {
    return { error: "A fal key looks like <key_id>:<key_secret> (copy both parts from fal.ai/dashboard/keys)." };
  }
  return { key };
}

/**
 * Read a /fal_avatar/key response (a fetch Response): {ok: true, state} or {ok: false, error} with the
 * server's message when it sent one.
 */
export async function readKeyResponse(response) {
  const read = await readJsonResponse(response, () => true);
  if (!read.ok) return read;
  const body = read.body;
  return { ok: true, state: { configured: Boolean(body?.configured), source: body?.source ?? null } };
}
