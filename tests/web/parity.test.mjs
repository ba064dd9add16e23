// The browser's estimate against the server's for the same inputs. Runs the project's Python when it is
// available (FAL_AVATAR_PYTHON, else .venv/bin/python).
//  - one job: equal to nodes/avatar/plan.py make_plan (frames and cost);
//  - a run longer than one job: against the server's own plan (tests/web/long_run_cases.py: the pause
//    analysis of synthetic speech, the text splitter, every segment's estimate), within the tolerance below.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { estimateCost } from "../../web/lib/cost.js";
import { needsSegments } from "../../web/lib/long_run.js";
import { PHASES } from "../../web/lib/status.js";
import { estimateInputs, rowsByNodeId } from "../../web/lib/nodes.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PYTHON = process.env.FAL_AVATAR_PYTHON || `${ROOT}.venv/bin/python`;

const SCRIPT = `
import json
from comfyui_fal_avatar.nodes.avatar import endpoints as ep
from comfyui_fal_avatar.nodes.avatar.catalog import catalog_json
from comfyui_fal_avatar.nodes.avatar.plan import check_params, make_plan
from comfyui_fal_avatar.nodes.errors import InputError
from comfyui_fal_avatar.nodes.longform.segmenting import plan_long_run
from comfyui_fal_avatar.nodes.pipeline.inputs import GenerationRequest
import numpy as np

def silence(seconds):
    return {"waveform": np.zeros((1, 1, round(seconds * 1000)), np.float32), "sample_rate": 1000}

cases = []
for spec in ep.GENERATION_ENDPOINTS:
    choose = {p.name: p.options[0] for p in spec.params if p.choice_required and p.name != "resolution"}
    frame_choices = [None] if spec.frames is None else [f for f in (0, 41, 81, 85, 145, 241, 721) if f <= spec.frames.max_frames]
    res_choices = list(spec.resolutions) or [None]
    text_param = spec.role_param("text")
    texts = ["Hi.", "x" * 140, "word " * 200] if text_param is not None else [None]
    for frames in frame_choices:
        for res in res_choices:
            for audio_s in (1.0, 2.0, 3.97, 4.0, 9.4, 10.0, 30.0, 400.0):
                for text in texts:
                    values = dict(choose)
                    if frames is not None:
                        values["num_frames"] = frames
                    if res:
                        values["resolution"] = res
                    if text is not None:
                        values[text_param.name] = text
                        if spec.role_param("text2") is not None:
                            values[spec.role_param("text2").name] = text
                    try:
                        plan = make_plan(spec, values, audio_s=audio_s)
                    except InputError:
                        continue  # longer than one job allows: the long-run test below
                    # footage as long as the audio (what the browser assumes when it knows no source)
                    footage = spec.has_slot("video") or spec.has_slot("frames")
                    source = np.zeros((round(audio_s * 25), 1, 1, 3), np.float32) if footage else None
                    media = {"audio": silence(audio_s), "frames": source}
                    if frames in (0, None) and plan_long_run(GenerationRequest(spec, values, **media)).jobs:
                        continue  # longer than one job: the long-run test below
                    # every widget with its value, as the node has them
                    cases.append({"node_id": spec.node_id, "values": check_params(spec, values), "audio_s": audio_s,
                                  "frames": plan.frames, "seconds": plan.seconds, "cost_usd": plan.cost_usd})
print(json.dumps({"catalog": catalog_json(), "cases": cases}))
`;

const skip = !existsSync(PYTHON) && `no Python at ${PYTHON}`;

function python(args) {
  const run = spawnSync(PYTHON, args, { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

test("JS estimates equal the Python run plan for one job", { skip }, () => {
  const { catalog, cases } = python(["-c", SCRIPT]);
  const rows = rowsByNodeId(catalog);
  assert.ok(cases.length > 100);
  const covered = new Set();
  for (const c of cases) {
    const row = rows[c.node_id];
    const est = estimateCost(row, estimateInputs(row, c.values, null, { audioS: c.audio_s }));
    const where = JSON.stringify(c);
    assert.equal(est.known, true, where);
    assert.equal(est.frames, c.frames, where);
    assert.ok(Math.abs(est.seconds - c.seconds) < 1e-6, where);
    assert.equal(est.usd, c.cost_usd, where);
    covered.add(c.node_id);
  }
  assert.deepEqual([...covered].sort(), Object.keys(rows).sort()); // every row's formula is checked
});

test("the status area names every phase as the node's own progress text does", { skip }, () => {
  const script = "import json; from comfyui_fal_avatar.nodes.pipeline.status import PHASE_LABELS; print(json.dumps(PHASE_LABELS))";
  assert.deepEqual({ ...PHASES }, python(["-c", script]));
});

// Tolerance for a run longer than one job. The browser cannot run the pause analysis, so it counts the
// fewest segments of equal cuts (k) and bills the most the planner can render: k + extra segments, every
// join at overlap + 3 frames, the last segment padded by 3. Hence, for audio (and dubbing's source):
//   the server uses k to k + extra segments, and 0 <= JS frames - server frames <= extra*(overlap+3) + 3k
//   (+ 3k more on rows without num_frames, whose jobs' seconds are counted again as 4n+1 planning frames);
// for text (pieces split at sentence ends; the browser packs the same sentences greedily):
//   the same segment count, and 0 <= JS frames - server frames <= 7 per segment (each piece's 4n+1
//   rounding, up to 4 frames, plus the whitespace at the joins);
// and in both cases the JS cost is never below the server's and at most 10 % above it.
test("JS estimates of long runs lean up within the stated tolerance of the server's plan", { skip }, () => {
  const { catalog, cases } = python([`${ROOT}tests/web/long_run_cases.py`]);
  const rows = rowsByNodeId(catalog);
  let audio = 0;
  let text = 0;
  for (const c of cases) {
    const row = rows[c.node_id];
    const est = estimateCost(row, estimateInputs(row, c.values, null, { audioS: c.audio_s ?? null, sourceS: c.source_s ?? null }));
    const py = c.py;
    const where = JSON.stringify({ ...c, values: { ...c.values, text_input: c.values.text_input?.slice(0, 40) }, js: est });
    assert.ok(py.segments > 1 && est.segments > 1, where);
    const extraFrames = est.frames - py.frames;
    assert.ok(extraFrames >= 0 && est.usd >= py.usd, where);
    assert.ok(est.usd <= py.usd * 1.1, where);
    const lr = row.long_run;
    if (row.length_from === "text") {
      text += 1;
      assert.equal(est.segments, py.segments, where);
      assert.ok(extraFrames <= 7 * est.segments, where);
    } else {
      audio += 1;
      assert.ok(needsSegments(row, py.video_frames, c.values.resolution), where);
      assert.equal(Math.round(est.seconds * 25), py.video_frames, where);
      assert.ok(py.segments >= est.segments && py.segments <= est.segments + lr.extra_segments, where);
      const rounding = (row.length_rule === "num_frames" ? 3 : 6) * est.segments;
      assert.ok(extraFrames <= lr.extra_segments * (lr.overlap_frames + 3) + rounding, where);
    }
  }
  assert.ok(audio >= 30 && text >= 9, `${audio} audio and ${text} text cases`);
});
