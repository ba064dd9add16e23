// The browser's estimate must equal the server's (nodes/avatar/plan.py make_plan) for the same inputs.
// Runs the project's Python when it is available (FAL_AVATAR_PYTHON, else .venv/bin/python).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { estimateCost } from "../../web/lib/cost.js";
import { rowsByNodeId } from "../../web/lib/nodes.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PYTHON = process.env.FAL_AVATAR_PYTHON || `${ROOT}.venv/bin/python`;

const SCRIPT = `
import json
from comfyui_fal_avatar.nodes.avatar import endpoints as ep
from comfyui_fal_avatar.nodes.avatar.catalog import catalog_json
from comfyui_fal_avatar.nodes.avatar.plan import make_plan

cases = []
for spec in ep.GENERATION_ENDPOINTS:
    frame_choices = [0] if spec.frames is None else [f for f in (0, 41, 81, 85, 145, 241, 721) if f <= spec.frames.max_frames]
    res_choices = [None] if not spec.has_param("resolution") else ["480p", "720p"]
    texts = ["Hi.", "x" * 140, "word " * 200] if spec.length_from == "text" else [None]
    for frames in frame_choices:
        for res in res_choices:
            for audio_s in (1.0, 2.0, 3.97, 4.0, 10.0, 30.0, 400.0):
                for text in texts:
                    values = {}
                    if spec.frames is not None:
                        values["num_frames"] = frames
                    if res:
                        values["resolution"] = res
                    if text is not None:
                        values["text_input"] = text
                    plan = make_plan(spec, values, audio_s=audio_s)
                    cases.append({"node_id": spec.node_id, "values": values, "audio_s": audio_s,
                                  "frames": plan.frames, "cost_usd": plan.cost_usd})
print(json.dumps({"catalog": catalog_json(), "cases": cases}))
`;

test("JS estimates equal the Python run plan", { skip: !existsSync(PYTHON) && `no Python at ${PYTHON}` }, () => {
  const run = spawnSync(PYTHON, ["-c", SCRIPT], { cwd: ROOT, encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  const { catalog, cases } = JSON.parse(run.stdout);
  const rows = rowsByNodeId(catalog);
  assert.ok(cases.length > 100);
  for (const c of cases) {
    const est = estimateCost(rows[c.node_id], {
      numFrames: c.values.num_frames ?? null,
      resolution: c.values.resolution ?? null,
      text: c.values.text_input ?? null,
      audioS: c.audio_s,
    });
    const where = JSON.stringify(c);
    assert.equal(est.known, true, where);
    assert.equal(est.frames, c.frames, where);
    assert.equal(est.usd, c.cost_usd, where);
  }
});
