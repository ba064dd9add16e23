// "Start fal jobs of queued prompts early" (GET/POST /fal_avatar/queue_ahead): what the settings panel says
// about the setting and about the early jobs of prompts still in ComfyUI's queue. Body of the routes:
// {queue_ahead_prompts, source: "env"|"saved"|"default"|null, env, default, max, error?,
//  jobs: [{prompt_id, node, endpoint, phase, estimate_usd, request_ids, started_at}], early_usd, messages}.
// No DOM, no ComfyUI.
import { readJsonResponse } from "./response.js";

/** Read a /fal_avatar/queue_ahead response (a fetch Response): {ok: true, state} or {ok: false, error}. */
export async function readQueueAheadResponse(response) {
  const read = await readJsonResponse(response);
  if (!read.ok) return read;
  const body = read.body;
  return {
    ok: true,
    state: {
      prompts: typeof body.queue_ahead_prompts === "number" ? body.queue_ahead_prompts : null,
      source: body.source ?? null,
      env: body.env ?? "FAL_AVATAR_QUEUE_AHEAD",
      max: body.max ?? 16,
      error: body.error ?? null,
      jobs: Array.isArray(body.jobs) ? body.jobs : [],
      earlyUsd: typeof body.early_usd === "number" ? body.early_usd : 0,
      messages: Array.isArray(body.messages) ? body.messages : [],
    },
  };
}

/** One sentence about the setting (state null: not known yet). */
export function describeQueueAhead(state) {
  if (!state) return "Checking the server…";
  if (state.prompts == null) return `The setting could not be read: ${state.error ?? "unknown error"}`;
  const what =
    state.prompts === 0
      ? "Off: queued prompts start their fal jobs only when ComfyUI reaches them"
      : `The fal jobs of up to ${state.prompts} queued prompt${state.prompts === 1 ? "" : "s"} start at once ` +
        "(nodes fed straight by Load Image / Load Audio / Load Video); each node then takes its job at no new cost";
  if (state.source === "env") return `${what}. ${state.env} sets this on the server and wins over the value saved here.`;
  return `${what}${state.source === "saved" ? " (saved on the server)" : " (the default)"}.`;
}

/** The lines about early jobs now running, and what happened to those of prompts that left the queue. */
export function describeEarlyJobs(state) {
  if (!state) return [];
  const lines = [];
  const running = state.jobs.filter((job) => job.phase !== "not started");
  if (running.length) {
    const prompts = new Set(running.map((job) => job.prompt_id)).size;
    lines.push(
      `${running.length} early fal job${running.length === 1 ? "" : "s"} for ${prompts} queued ` +
        `prompt${prompts === 1 ? "" : "s"}, est. ~$${state.earlyUsd.toFixed(2)} in all. Deleting a prompt from ` +
        "the queue cancels its jobs: fal does not bill a job cancelled while queued; one already generating may be billed.",
    );
  }
  return lines.concat(state.messages.slice(-5));
}

/** What was typed: {value} (null: back to the default) or {error}. */
export function checkPromptsInput(text, max = 16) {
  const raw = String(text ?? "").trim();
  if (!raw) return { value: null };
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > max) return { error: `Enter a whole number from 0 (off) to ${max}.` };
  return { value };
}
