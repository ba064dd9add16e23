// The "Start fal jobs of queued prompts early" entry in ComfyUI's settings dialog. A custom setting renderer:
// the value is read from and saved on the server (GET/POST /fal_avatar/queue_ahead), whose watcher uses it;
// ComfyUI's own settings storage is never written. While the panel is open it shows the early jobs of
// prompts still queued (and their estimates' sum), refreshed every two seconds.

import { checkPromptsInput, describeEarlyJobs, describeQueueAhead } from "../lib/queue_ahead.js";
import { h } from "./dom.js";
import { getQueueAheadState, saveQueueAhead } from "./server.js";

const REFRESH_MS = 2000;

export function createQueueAheadSettingRenderer(api) {
  let panel = null;

  function build() {
    let state = null;
    const status = h("div", { class: "fa-status" });
    const jobs = h("div", { class: "fa-msg" });
    const message = h("div", { class: "fa-msg", role: "status" });
    const input = h("input", { type: "number", min: "0", max: "16", step: "1", placeholder: "4",
      "aria-label": "Queued prompts started early (0 = off)" });
    const save = h("button", { type: "button" }, "Save on server");
    const reset = h("button", { type: "button", title: "Remove the saved value: the default (4) applies" }, "Use default");

    function show(next, text) {
      if (next) state = next;
      status.textContent = describeQueueAhead(state);
      jobs.textContent = describeEarlyJobs(state).join("\n");
      jobs.style.whiteSpace = "pre-line";
      if (next && document.activeElement !== input && state?.prompts != null) input.value = String(state.prompts);
      if (text !== undefined) message.textContent = text;
    }

    async function send(button, value) {
      button.disabled = true;
      message.textContent = "…";
      const result = await saveQueueAhead(api, value);
      button.disabled = false;
      if (!result.ok) return show(null, `Not changed: ${result.error}`);
      const env = result.state.source === "env";
      show(result.state, env ? `Saved. ${result.state.env} is set on the server and still wins.` : "Saved on the server.");
    }

    save.addEventListener("click", () => {
      const typed = checkPromptsInput(input.value, state?.max);
      if (typed.error) show(null, typed.error);
      else send(save, typed.value);
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") save.click();
    });
    reset.addEventListener("click", () => send(reset, null));

    const element = h("div", { class: "fal-avatar-queue-ahead" }, status,
      h("div", { class: "fa-row" }, input, h("span", {}, "prompts ahead"), save, reset), jobs, message);
    async function refresh() {
      const r = await getQueueAheadState(api);
      if (r.ok) show(r.state);
      else show(null, `Could not ask the server: ${r.error}`);
    }
    setInterval(() => {
      if (element.isConnected) refresh();
    }, REFRESH_MS);
    return { element, show, refresh };
  }

  return function renderQueueAheadSetting() {
    panel ??= build(); // one panel: re-renders of the dialog keep what was typed
    panel.show(null);
    panel.refresh();
    return panel.element;
  };
}
