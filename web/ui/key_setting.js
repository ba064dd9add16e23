// The "fal API key" entry in ComfyUI's settings dialog. A custom setting renderer (the setting `type` is
// a function): the key goes straight to POST /fal_avatar/key and the renderer never calls the setting's
// setter, so ComfyUI's settings storage never holds the key.

import { checkPastedKey, describeKeyState } from "../lib/key.js";
import { h } from "./dom.js";
import { forgetKey, getKeyState, saveKey } from "./server.js";

/**
 * keyStore: {get(), set(state)} shared with the nodes (their missing-key warning).
 * Returns the renderer ComfyUI calls as type(name, setValue, value, attrs) -> HTMLElement.
 */
export function createKeySettingRenderer(api, keyStore) {
  let panel = null;

  function build() {
    const status = h("div", { class: "fa-status" });
    const message = h("div", { class: "fa-msg", role: "status" });
    const input = h("input", {
      type: "password",
      autocomplete: "off",
      spellcheck: "false",
      placeholder: "paste <key_id>:<key_secret>",
      "aria-label": "fal API key",
    });
    const save = h("button", { type: "button" }, "Save on server");
    const forget = h("button", { type: "button", title: "Delete the key file saved on the server" }, "Forget saved key");

    function show(state, text = "") {
      if (state) keyStore.set(state);
      status.textContent = describeKeyState(keyStore.get());
      forget.disabled = !keyStore.get()?.configured;
      message.textContent = text;
    }

    async function run(button, request, done) {
      button.disabled = true;
      message.textContent = "…";
      const result = await request();
      button.disabled = false;
      if (result.ok) show(result.state, done(result.state));
      else show(null, `Not changed: ${result.error}`);
    }

    save.addEventListener("click", () => {
      const pasted = checkPastedKey(input.value);
      if (pasted.error) {
        show(null, pasted.error);
        return;
      }
      input.value = "";
      run(save, () => saveKey(api, pasted.key), (s) =>
        s.source === "env" ? "Saved. The environment variable is still the one in use." : "Saved on the server.",
      );
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") save.click();
    });
    forget.addEventListener("click", () =>
      run(forget, () => forgetKey(api), (s) =>
        s.configured ? "Saved key removed; the environment variable is still set." : "Saved key removed.",
      ),
    );

    const element = h(
      "div",
      { class: "fal-avatar-key" },
      status,
      h("div", { class: "fa-row" }, input, save),
      h("div", { class: "fa-row" }, forget),
      message,
    );
    return { element, show };
  }

  return function renderKeySetting() {
    panel ??= build(); // one panel: re-renders of the dialog move it instead of losing typed text
    panel.show(null);
    getKeyState(api).then((r) => (r.ok ? panel.show(r.state) : panel.show(null, `Could not ask the server: ${r.error}`)));
    return panel.element;
  };
}
