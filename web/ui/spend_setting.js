// The "Spend limit per run (USD)" entry in ComfyUI's settings dialog. A custom setting renderer: the value
// is read from and saved on the server (GET/POST /fal_avatar/settings), where the runs check it; ComfyUI's
// own settings storage is never written. FAL_AVATAR_MAX_USD_PER_RUN on the server wins, and the panel says so.

import { checkLimitInput, describeSpendState } from "../lib/spend.js";
import { h } from "./dom.js";
import { getSpendState, saveSpendLimit } from "./server.js";

/**
 * spendStore: {get(), set(state)} shared with the nodes (their "above your spend limit" line).
 * Returns the renderer ComfyUI calls as type(name, setValue, value, attrs) -> HTMLElement.
 */
export function createSpendSettingRenderer(api, spendStore) {
  let panel = null;

  function build() {
    const status = h("div", { class: "fa-status" });
    const message = h("div", { class: "fa-msg", role: "status" });
    const input = h("input", {
      type: "number",
      min: "0",
      step: "0.5",
      inputmode: "decimal",
      placeholder: "25",
      "aria-label": "Spend limit per run (USD)",
    });
    const save = h("button", { type: "button" }, "Save on server");
    const reset = h("button", { type: "button", title: "Remove the saved limit: the default applies" }, "Use default");

    function show(state, text = "") {
      if (state) spendStore.set(state);
      const current = spendStore.get();
      status.textContent = describeSpendState(current);
      const fill = (state || !input.value) && document.activeElement !== input; // never under the user's typing
      if (fill && current?.limit != null) input.value = String(current.limit);
      message.textContent = text;
    }

    async function send(button, usd) {
      button.disabled = true;
      message.textContent = "…";
      const result = await saveSpendLimit(api, usd);
      button.disabled = false;
      if (!result.ok) {
        show(null, `Not changed: ${result.error}`);
        return;
      }
      const env = result.state.source === "env";
      show(result.state, env ? `Saved. ${result.state.env} is set on the server and still wins.` : "Saved on the server.");
    }

    save.addEventListener("click", () => {
      const typed = checkLimitInput(input.value);
      if (typed.error) show(null, typed.error);
      else send(save, typed.value);
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") save.click();
    });
    reset.addEventListener("click", () => send(reset, null));

    const element = h(
      "div",
      { class: "fal-avatar-spend" },
      status,
      h("div", { class: "fa-row" }, h("span", {}, "$"), input, save, reset),
      message,
    );
    return { element, show };
  }

  return function renderSpendSetting() {
    panel ??= build(); // one panel: re-renders of the dialog keep what was typed
    panel.show(null);
    getSpendState(api).then((r) => (r.ok ? panel.show(r.state) : panel.show(null, `Could not ask the server: ${r.error}`)));
    return panel.element;
  };
}
