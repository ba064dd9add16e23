// The compact status area on a node: copies a view model (lib/view.js) into a few single-line rows
// (long texts are cut with an ellipsis and shown whole as the row's tooltip).

import { copyText, h, setText } from "./dom.js";

export const ROW_HEIGHT = 16;
const PADDING = 6;

/**
 * Build the status area. handlers: {openSettings(), copied(ok, text)}.
 * Returns {element, render(model, rowCount), height()}.
 */
export function createStatusView(handlers) {
  let requestId = null;
  const line = (cls = "") => h("span", { class: `fa-text ${cls}` });
  const warning = line("fa-warn");
  const warningRow = h(
    "div",
    { class: "fa-row" },
    warning,
    h("button", { type: "button", title: "Open ComfyUI's settings", onclick: () => handlers.openSettings() }, "Settings"),
  );
  const hint = line("fa-dim");
  const status = line();
  const copy = h(
    "button",
    { type: "button", onclick: async () => handlers.copied(await copyText(requestId), requestId) },
    "copy id",
  );
  const statusRow = h("div", { class: "fa-row" }, status, copy);
  const details = line("fa-dim");
  const estimate = line();
  const problem = line("fa-warn");
  const limit = line("fa-warn");
  const element = h(
    "div",
    { class: "fal-avatar-status" },
    warningRow,
    h("div", { class: "fa-row" }, hint),
    statusRow,
    h("div", { class: "fa-row" }, details),
    h("div", { class: "fa-row" }, estimate),
    h("div", { class: "fa-row" }, problem),
    h("div", { class: "fa-row" }, limit),
  );

  let rows = 0;
  function render(model, rowCount) {
    setText(warning, model.warning, model.warningHint);
    setText(hint, model.warningHint, model.warningHint);
    setText(status, model.status, model.statusTitle || model.status);
    status.classList.toggle("fa-error", model.isError);
    requestId = model.requestId;
    copy.hidden = !requestId;
    copy.textContent = model.copyLabel;
    copy.title = model.copyTitle;
    setText(details, model.details, model.details);
    setText(estimate, model.estimate, [model.estimate, model.estimateTitle].filter(Boolean).join("\n"));
    setText(problem, model.problem, model.problem);
    setText(limit, model.limit, model.limit);
    for (const row of element.children) row.hidden = !row.firstChild.textContent;
    rows = rowCount;
  }

  const height = () => (rows ? rows * ROW_HEIGHT + PADDING : 0);
  return { element, render, height };
}
