// Reading the pack's routes' JSON answers. No DOM, no ComfyUI.

/**
 * Read a route's answer (a fetch Response): {ok: true, body} when the server said yes and `usable(body)`,
 * else {ok: false, error} with the server's own message when it sent one.
 */
export async function readJsonResponse(response, usable = (body) => Boolean(body)) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok || !usable(body)) {
    const detail = body?.error || body?.message || body?.detail || `the server answered HTTP ${response.status}`;
    return { ok: false, error: typeof detail === "string" ? detail : JSON.stringify(detail) };
  }
  return { ok: true, body };
}
