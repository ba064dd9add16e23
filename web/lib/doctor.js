// What the "Check fal endpoints" button shows: the server's health check (GET /fal_avatar/doctor, the same
// report as `fal-avatar doctor --json`) as a headline and lines. The report holds the key's presence,
// source and validity only, never the key. No DOM, no ComfyUI.
import { readJsonResponse } from "./response.js";

const STATUS_WORDS = {
  ok: "ok",
  drift: "drift",
  no_document: "no OpenAPI document",
  not_in_catalogue: "not in fal's catalogue",
  deprecated: "deprecated by fal",
  delisted: "delisted (kept so saved workflows open)",
  unreachable: "unreachable",
};
// Tones of the endpoint lines: a row the pack itself marks delisted is expected, a deprecation is a warning.
const STATUS_TONES = { ok: "ok", delisted: "dim", deprecated: "warn", unreachable: "warn" };
const KEY_WORDS = {
  valid: "works",
  missing: "not set",
  rejected: "rejected by fal",
  locked: "account locked",
  unreachable: "could not be checked",
};
const SOURCE_WORDS = { env: "from the environment", saved: "saved on the server" };

/** Read the route's answer (a fetch Response): {ok: true, report} or {ok: false, error}. */
export async function readDoctorResponse(response) {
  const read = await readJsonResponse(response, (body) => Array.isArray(body?.endpoints));
  return read.ok ? { ok: true, report: read.body } : read;
}

/** The key line: "fal key (from the environment): works". */
export function describeKey(key) {
  if (!key?.present) return `fal key: ${KEY_WORDS.missing}`;
  const source = SOURCE_WORDS[key.source] ? ` (${SOURCE_WORDS[key.source]})` : "";
  return `fal key${source}: ${KEY_WORDS[key.state] ?? key.state}`;
}

/** One line per host: "queue https://queue.fal.run: 42 ms" or "…: unreachable (ConnectError…)". */
export function describeHost(host) {
  if (!host.reachable) return `${host.name} ${host.url}: unreachable (${host.error ?? "no answer"})`;
  return `${host.name} ${host.url}: ${Math.round(host.rtt_ms ?? 0)} ms`;
}

/** Tone of the whole report from its exit code: 0 ok, 1 drift (error), 2 key, 3 unreachable (warn). */
export function reportTone(report) {
  if (report.exit_code === 0) return "ok";
  return report.exit_code === 1 ? "error" : "warn";
}

/**
 * The view model: {headline, tone, lines: [{text, tone}]} where tone is "ok" | "warn" | "error" | "dim".
 * Endpoints that match get one line; others get one line plus one per difference (breaking ones first).
 */
export function doctorView(report) {
  const lines = [];
  const keyTone = report.key?.state === "valid" ? "ok" : report.key?.state === "unreachable" ? "warn" : "error";
  lines.push({ text: describeKey(report.key), tone: keyTone });
  for (const host of report.hosts ?? []) {
    lines.push({ text: describeHost(host), tone: host.reachable ? "dim" : "warn" });
  }
  for (const check of report.endpoints ?? []) {
    const word = STATUS_WORDS[check.status] ?? check.status;
    const tone = STATUS_TONES[check.status] ?? "error";
    lines.push({ text: `${check.endpoint_id}: ${word}`, tone });
    if (check.error) lines.push({ text: `  ${check.error}`, tone: "dim" });
    const ordered = [...(check.differences ?? [])].sort(
      (a, b) => (a.severity === "breaking" ? 0 : 1) - (b.severity === "breaking" ? 0 : 1),
    );
    for (const diff of ordered) {
      lines.push({ text: `  ${diff.severity === "breaking" ? "!" : "~"} ${diff.message}`, tone: "dim" });
    }
  }
  return { headline: report.summary, tone: reportTone(report), lines };
}
