// The spend limit per run (GET/POST /fal_avatar/settings): what the settings panel says about it, and the
// warning a node shows when its estimate is above it (the server refuses such a run before any upload).
// Body of the routes: {max_usd_per_run, source: "env"|"saved"|"default"|null, env, default_usd, error?}.
// No DOM, no ComfyUI.
import { readJsonResponse } from "./response.js";

export const SPEND_SETTINGS_PATH = "Settings → fal avatar";

/** "$25", "$12.50". */
export function formatLimit(usd) {
  return Number.isInteger(usd) ? `$${usd}` : `$${usd.toFixed(2)}`;
}

/** Read a /fal_avatar/settings response (a fetch Response): {ok: true, state} or {ok: false, error}. */
export async function readSpendResponse(response) {
  const read = await readJsonResponse(response);
  if (!read.ok) return read;
  const body = read.body;
  const limit = typeof body.max_usd_per_run === "number" ? body.max_usd_per_run : null;
  return {
    ok: true,
    state: {
      limit,
      source: body.source ?? null,
      env: body.env ?? "FAL_AVATAR_MAX_USD_PER_RUN",
      defaultUsd: body.default_usd ?? null,
      error: body.error ?? null,
    },
  };
}

/** One sentence for the settings panel (state null: not known yet). */
export function describeSpendState(state) {
  if (!state) return "Checking the server…";
  if (state.limit == null) return `The limit could not be read: ${state.error ?? "unknown error"}`;
  const refused = `A run whose estimate is above ${formatLimit(state.limit)} is refused before anything is uploaded`;
  if (state.source === "env") {
    return `${refused}. ${state.env} sets this on the server and wins over the value saved here.`;
  }
  if (state.source === "saved") return `${refused} (saved on the server).`;
  return `${refused} (the default).`;
}

/** What was typed in the field: {value} (null: back to the default) or {error}. */
export function checkLimitInput(text) {
  const raw = String(text ?? "").trim().replace(/^\$/, "");
  if (!raw) return { value: null };
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) return { error: "Enter an amount in US dollars (0 or more)." };
  return { value };
}

/** The node's line when its estimate is above the limit, or null. */
export function spendWarning(usd, state) {
  if (usd == null || state?.limit == null || usd <= state.limit + 1e-9) return null;
  const limit = formatLimit(state.limit);
  if (state.source === "env") {
    return `above your spend limit ${limit} (${state.env} on the server): the run will be refused; set it higher`;
  }
  return `above your spend limit ${limit}: the run will be refused; raise it in ${SPEND_SETTINGS_PATH}`;
}
