// Tiny DOM helpers shared by the status area and the settings panel.

/** h("div", {class: "x", title: "t", onclick}, ...children) */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value == null) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "style") Object.assign(el.style, value);
    else el.setAttribute(name, value);
  }
  el.append(...children);
  return el;
}

/** Set text and visibility in one go (empty text hides the element). */
export function setText(el, text, title) {
  el.textContent = text ?? "";
  el.hidden = !text;
  if (title !== undefined) el.title = title ?? "";
}

/** Copy to the clipboard; falls back to a selection copy when the async clipboard is unavailable. */
export async function copyText(text) {
  if (navigator.clipboard?.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // fall through to the selection copy (e.g. page not focused)
    }
  }
  const area = h("textarea", { style: { position: "fixed", opacity: "0" } });
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  return ok;
}

const STYLE_ID = "fal-avatar-style";

/** Inject the pack's stylesheet once (ComfyUI theme variables, so light and dark themes work). */
export function ensureStyles() {
  if (document.getElementById(STYLE_ID)) return;
  const style = h("style", { id: STYLE_ID });
  style.textContent = `
.fal-avatar-status { display: flex; flex-direction: column; padding: 3px 10px; box-sizing: border-box;
  font: 11px/16px system-ui, sans-serif; color: var(--input-text, #ddd); overflow: hidden; pointer-events: auto; }
.fal-avatar-status .fa-row { display: flex; align-items: center; gap: 4px; min-width: 0; height: 16px; }
.fal-avatar-status .fa-row[hidden], .fal-avatar-status [hidden] { display: none; }
.fal-avatar-status .fa-text { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; min-width: 0; flex: 1; }
.fal-avatar-status .fa-dim { opacity: 0.75; }
.fal-avatar-status .fa-warn { color: var(--error-text, #ff6b6b); }
.fal-avatar-status .fa-error { color: var(--error-text, #ff6b6b); }
.fal-avatar-status button { line-height: 14px; flex: none; }
.fal-avatar-status button, .fal-avatar-key button, .fal-avatar-spend button, .fal-avatar-queue-ahead button { font: inherit; cursor: pointer; padding: 0 6px; border-radius: 4px;
  border: 1px solid var(--border-color, #555); background: var(--comfy-input-bg, #222); color: var(--input-text, #ddd); }
.fal-avatar-key, .fal-avatar-spend, .fal-avatar-queue-ahead { display: flex; flex-direction: column; gap: 6px; min-width: 320px; font-size: 13px; }
.fal-avatar-key .fa-row, .fal-avatar-spend .fa-row, .fal-avatar-queue-ahead .fa-row { display: flex; gap: 6px; align-items: center; }
.fal-avatar-key input, .fal-avatar-spend input, .fal-avatar-queue-ahead input { flex: 1; min-width: 0; font: inherit; padding: 2px 6px; }
.fal-avatar-key .fa-msg, .fal-avatar-spend .fa-msg, .fal-avatar-queue-ahead .fa-msg { min-height: 1em; opacity: 0.85; }
.fal-avatar-doctor { display: flex; flex-direction: column; gap: 6px; min-width: 320px; max-width: 640px; font-size: 13px; }
.fal-avatar-doctor button { font: inherit; cursor: pointer; padding: 0 6px; border-radius: 4px;
  border: 1px solid var(--border-color, #555); background: var(--comfy-input-bg, #222); color: var(--input-text, #ddd); }
.fal-avatar-doctor .fa-lines { display: flex; flex-direction: column; gap: 2px; font-size: 12px; white-space: pre-wrap; }
.fal-avatar-doctor [data-tone=ok] { color: var(--p-green-400, #4caf50); }
.fal-avatar-doctor [data-tone=warn] { color: var(--p-orange-400, #f0a030); }
.fal-avatar-doctor [data-tone=error] { color: var(--error-text, #ff6b6b); }
.fal-avatar-doctor [data-tone=dim] { opacity: 0.8; }
`;
  document.head.append(style);
}
