// The "Check fal endpoints" entry in ComfyUI's settings dialog: a button that runs the server's health
// check (GET /fal_avatar/doctor) and shows its report. The check runs on the server, where the key is; the
// browser only ever sees whether a key is set, where it comes from and whether fal accepted it.

import { doctorView } from "../lib/doctor.js";
import { h } from "./dom.js";
import { runDoctor } from "./server.js";

/** Returns the renderer ComfyUI calls as type(name, setValue, value, attrs) -> HTMLElement. */
export function createDoctorSettingRenderer(api) {
  let panel = null;

  function build() {
    const button = h("button", { type: "button" }, "Check fal endpoints");
    const headline = h("div", { class: "fa-headline", role: "status" });
    const details = h("div", { class: "fa-lines" });

    function show(view) {
      headline.textContent = view.headline;
      headline.dataset.tone = view.tone;
      details.replaceChildren(...view.lines.map((line) => h("div", { "data-tone": line.tone }, line.text)));
    }

    button.addEventListener("click", async () => {
      button.disabled = true;
      headline.textContent = "Checking fal… (read-only: nothing is submitted or billed)";
      delete headline.dataset.tone;
      details.replaceChildren();
      const result = await runDoctor(api);
      button.disabled = false;
      if (result.ok) show(doctorView(result.report));
      else show({ headline: `The check did not run: ${result.error}`, tone: "error", lines: [] });
    });

    const element = h(
      "div",
      { class: "fal-avatar-doctor" },
      h("div", { class: "fa-row" }, button),
      headline,
      details,
    );
    return { element };
  }

  return function renderDoctorSetting() {
    panel ??= build(); // one panel: re-renders of the dialog keep the last result
    return panel.element;
  };
}
