// comfyui-fal-avatar web extension: a status area with the cost estimate on the pack's nodes
// (a long run's too, from the length of the loader's file upstream), and three entries in ComfyUI's
// settings: the fal API key, the spend limit per run and "Check fal endpoints" (the server's doctor). The
// logic lives in ./lib (pure, tested with node --test); this file only wires it to ComfyUI.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

import { isOurNodeDef } from "./lib/nodes.js";
import { SOURCE_INPUTS, createLengthCache, loaderFile, sourceLengths } from "./lib/sources.js";
import {
  eventTargetsNode,
  initialState,
  isTerminal,
  reduceExecutionError,
  reduceInterrupted,
  reduceStatus,
} from "./lib/status.js";
import { createStore } from "./lib/store.js";
import { nodeViewModel, visibleRows } from "./lib/view.js";
import { createDoctorSettingRenderer } from "./ui/doctor_setting.js";
import { ensureStyles } from "./ui/dom.js";
import { createKeySettingRenderer } from "./ui/key_setting.js";
import { createQueueAheadSettingRenderer } from "./ui/queue_ahead_setting.js";
import { getEndpointRows, getKeyState, getMediaLengths, getSpendState } from "./ui/server.js";
import { createSpendSettingRenderer } from "./ui/spend_setting.js";
import { createStatusView } from "./ui/status_view.js";

const STATUS_EVENT = "fal_avatar.status";
const WIDGET_NAME = "fal_avatar_status";
const MARGIN = 4; // px around the DOM widget (the frontend's default is 10)

const keyStore = createStore(null); // {configured, source} once the server answered
const spendStore = createStore(null); // the spend limit per run (lib/spend.js) once the server answered
let rows = {}; // endpoint rows by node id
const ourTypes = new Set(); // the pack's node types (lib/nodes.js isOurNodeDef), as ComfyUI registers them
const entries = new Map(); // node -> {node, view, state, files}
const lengths = createLengthCache((name) => getMediaLengths(api, name), () => renderAll());

const typeOf = (node) => node.comfyClass ?? node.constructor?.comfyClass ?? node.type;

function widgetValues(node) {
  const values = {};
  for (const widget of node.widgets ?? []) values[widget.name] = widget.value;
  return values;
}

/** {audio, audio2, video}: the file names of the loader nodes linked to the node's media inputs. */
function sourceFiles(node) {
  const files = {};
  for (const name of SOURCE_INPUTS) {
    const slot = node.inputs?.findIndex((input) => input.name === name) ?? -1;
    const upstream = slot >= 0 ? node.getInputNode?.(slot) : null;
    files[name] = upstream ? loaderFile(typeOf(upstream), widgetValues(upstream)) : null;
  }
  return files;
}

function render(entry) {
  const { node, view } = entry;
  const files = sourceFiles(node);
  entry.files = JSON.stringify(files);
  const model = nodeViewModel({
    typeName: typeOf(node),
    row: rows[typeOf(node)],
    values: widgetValues(node),
    state: entry.state,
    keyState: keyStore.get(),
    spendState: spendStore.get(),
    sources: sourceLengths(Object.fromEntries(SOURCE_INPUTS.map((name) => [name, lengths.get(files[name])]))),
    now: Date.now(),
  });
  const before = view.height();
  view.render(model, visibleRows(model));
  if (view.height() > before) {
    const needed = node.computeSize()[1];
    if (node.size[1] < needed) node.setSize([node.size[0], needed]);
  }
  node.setDirtyCanvas?.(true, false);
}

const renderAll = () => entries.forEach(render);

function toast(severity, summary, detail) {
  app.extensionManager?.toast?.add({ severity, summary, detail, life: 3000 });
}

function attach(node) {
  const view = createStatusView({
    openSettings: () => app.extensionManager?.command?.execute?.("Comfy.ShowSettingsDialog"),
    copied: (ok, text) => {
      const what = String(text).includes("@") ? "Segment list" : "Request id";
      if (ok) toast("info", `${what} copied`, "");
      else toast("warn", "Could not copy", "Select the id and copy it.");
    },
  });
  const entry = { node, view, state: initialState, files: "" };
  const height = () => (view.height() ? view.height() + 2 * MARGIN : 0);
  const widget = node.addDOMWidget(WIDGET_NAME, "fal-avatar-status", view.element, {
    serialize: false, // not a value: never in workflows or prompts
    hideOnZoom: false,
    margin: MARGIN,
    getValue: () => "",
    setValue: () => {},
    getMinHeight: height,
    getMaxHeight: height,
  });
  widget.serialize = false;
  widget.onRemove = chain(widget.onRemove, () => entries.delete(node));
  for (const w of node.widgets ?? []) {
    if (w !== widget) w.callback = chain(w.callback, () => render(entry)); // any widget may move the estimate
  }
  entries.set(node, entry);
  render(entry);
}

/** Call `original` (if any) and then `extra`, keeping `this` and the return value of `original`. */
function chain(original, extra) {
  return function (...args) {
    const result = original?.apply(this, args);
    extra.apply(this, args);
    return result;
  };
}

/** Set each attached node's state to `reduce(entry, now)` and re-render the nodes whose state changed. */
function update(reduce) {
  const now = Date.now();
  for (const entry of entries.values()) {
    const next = reduce(entry, now);
    if (next === entry.state) continue;
    entry.state = next;
    render(entry);
  }
}

const onStatus = ({ detail }) =>
  update((entry, now) => (eventTargetsNode(detail, entry.node.id) ? reduceStatus(entry.state, detail, now) : entry.state));
const onExecutionError = ({ detail }) =>
  update((entry, now) => reduceExecutionError(entry.state, detail, entry.node.id, now));
const onInterrupted = () => update((entry, now) => reduceInterrupted(entry.state, now));

/** Every second: the live clock of active runs, and the estimate of nodes whose loader file changed. */
function tick() {
  for (const entry of entries.values()) {
    const active = entry.state.phase && !isTerminal(entry.state.phase);
    if (active || JSON.stringify(sourceFiles(entry.node)) !== entry.files) render(entry);
  }
}

app.registerExtension({
  name: "comfyui-fal-avatar.status",
  settings: [
    {
      id: "FalAvatar.ApiKey",
      category: ["fal avatar", "API key", "FalAvatarApiKey"],
      name: "fal API key",
      tooltip:
        "Stored on the ComfyUI server in a private file (mode 0600), never in ComfyUI's settings or in " +
        "workflows. FAL_KEY in the environment wins over a saved key.",
      // A custom renderer: the key is POSTed to the server; the setting's own value is never written.
      type: createKeySettingRenderer(api, keyStore),
      defaultValue: "",
    },
    {
      id: "FalAvatar.SpendLimit",
      category: ["fal avatar", "Spend limit", "FalAvatarSpendLimit"],
      name: "Spend limit per run (USD)",
      tooltip:
        "A run whose cost estimate (every segment of a long run, overlaps included) is above this is refused " +
        "before anything is uploaded. Saved on the ComfyUI server; FAL_AVATAR_MAX_USD_PER_RUN there wins.",
      // A custom renderer: the value is POSTed to the server; the setting's own value is never written.
      type: createSpendSettingRenderer(api, spendStore),
      defaultValue: "",
    },
    {
      id: "FalAvatar.QueueAhead",
      category: ["fal avatar", "Queue", "FalAvatarQueueAhead"],
      name: "Start fal jobs of queued prompts early",
      tooltip:
        "ComfyUI runs one prompt at a time; fal runs many jobs at once. With this on, the fal jobs of up to this " +
        "many queued prompts start right away (nodes fed straight by Load Image / Load Audio / Load Video), and " +
        "each node takes its job at no new cost. 0 = off. Saved on the server; FAL_AVATAR_QUEUE_AHEAD there wins.",
      // A custom renderer: the value is POSTed to the server; the setting's own value is never written.
      type: createQueueAheadSettingRenderer(api),
      defaultValue: "",
    },
    {
      id: "FalAvatar.Doctor",
      category: ["fal avatar", "Endpoints", "FalAvatarDoctor"],
      name: "Check fal endpoints",
      tooltip:
        "Runs `fal-avatar doctor` on the server: is the key accepted, do fal's hosts answer, and do fal's " +
        "published schemas still match the nodes? Read-only and free: nothing is submitted or uploaded.",
      // A custom renderer: a button and the report; the setting's own value is never written.
      type: createDoctorSettingRenderer(api),
      defaultValue: "",
    },
  ],
  async setup() {
    ensureStyles();
    api.addEventListener(STATUS_EVENT, onStatus);
    api.addEventListener("execution_error", onExecutionError);
    api.addEventListener("execution_interrupted", onInterrupted);
    keyStore.subscribe(renderAll);
    spendStore.subscribe(renderAll);
    setInterval(tick, 1000);
    const [key, endpointRows, spend] = await Promise.all([getKeyState(api), getEndpointRows(api), getSpendState(api)]);
    rows = endpointRows;
    if (spend.ok) spendStore.set(spend.state);
    if (key.ok) keyStore.set(key.state);
    else renderAll();
  },
  beforeRegisterNodeDef(nodeType, nodeData) {
    if (isOurNodeDef(nodeData)) ourTypes.add(nodeData.name);
  },
  nodeCreated(node) {
    if (ourTypes.has(typeOf(node))) attach(node);
  },
  loadedGraphNode(node) {
    // widget values arrive after nodeCreated when a workflow is loaded
    const entry = entries.get(node);
    if (entry) render(entry);
  },
});
