// The compact status area on a node: copies a view model (lib/view.js) into a few elements.

import { copyText, h, setText } from "./dom.js";

const ROW_HEIGHT = 17;

/**
 * Build the status area. handlers: {openSettings(), copied(ok)}.
 * Returns {element, render(model), height()}.
 */
export function createStatusView(handlers) {
  let requestId = null;
  const warning = h("span", { class: "fa-text fa-warn" });
  const warningRow = h(
    "div",
    { class: "fa-row" },
    warning,
    h("button", { type: "button", title: "Open ComfyUI's settings", onclick: () => handlers.openSettings() }, "Settings"),
  );
  const status = h("span", { class: "fa-text" });
  const copy = h(
    "button",
    {
      type: "button",
      title: "Copy the fal request id (use it in 'fal Avatar Fetch Result' or the fal dashboard)",
      onclick: async () => handlers.copied(await copyText(requestId)),
    },
    "copy id",
  );
  const statusRow = h("div", { class: "fa-row" }, status, copy);
  const details = h("div", { class: "fa-text fa-dim" });
  const estimate = h("div", { class: "fa-text" });
  const problem = h("div", { class: "fa-text fa-warn" });
  const element = h("div", { class: "fal-avatar-status" }, warningRow, statusRow, details, estimate, problem);

  let rows = 0;
  function render(model, rowCount) {
    setText(warning, model.warning);
    warningRow.hidden = !model.warning;
    setText(status, model.status, model.statusTitle);
    status.classList.toggle("fa-error", model.isError);
    statusRow.hidden = !model.status;
    requestId = model.requestId;
    copy.hidden = !requestId;
    setText(details, model.details);
    setText(estimate, model.estimate, model.estimateTitle);
    setText(problem, model.problem);
    rows = rowCount;
  }

  // The warning wraps onto a second line on narrow nodes; one row of slack keeps it visible.
  const height = () => (rows ? rows * ROW_HEIGHT + 6 + (warningRow.hidden ? 0 : ROW_HEIGHT) : 0);
  return { element, render, height };
}
