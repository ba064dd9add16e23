"""Long runs as the server plans them, for tests/web/parity.test.mjs: prints JSON cases.

Each case is a node's inputs (widget values, audio length, dubbing's source length, or a text) and what
the Python side makes of it: `plan_long_run` (the pause analysis of synthetic speech, the text splitter)
and every segment's `plan_request` estimate, exactly what the node's run would bill.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: _speech

from _speech import talk  # noqa: E402

from comfyui_fal_avatar.nodes.avatar import endpoints as ep  # noqa: E402
from comfyui_fal_avatar.nodes.avatar.catalog import catalog_json  # noqa: E402
from comfyui_fal_avatar.nodes.longform.segmenting import plan_long_run  # noqa: E402
from comfyui_fal_avatar.nodes.pipeline.inputs import GenerationRequest, plan_request  # noqa: E402

IMAGE = np.full((1, 64, 64, 3), 0.5, np.float32)
WORDS = "the avatar speaks every word of this text in a calm and steady voice while the camera".split()


def run_case(spec, values: dict, **media) -> dict:
    request = GenerationRequest(spec=spec, values=values, image=IMAGE, want_frames=False, **media)
    plan = plan_long_run(request)
    plans = [plan_request(job.request) for job in plan.jobs] or [plan_request(request)]
    return {
        "segments": len(plans),
        "frames": sum(p.frames for p in plans),
        "usd": round(sum(p.cost_usd for p in plans), 4),
        "video_frames": plan.total_frames if plan.jobs else plans[0].frames,
    }


@functools.cache
def _talk(seconds: float, seed: int) -> tuple[np.ndarray, int]:
    """Synthetic speech made once per seed, as long as the longest case; read-only for every plan."""
    speech = talk(seconds, seed=seed)
    samples = speech.samples[None]
    samples.flags.writeable = False
    return samples, speech.rate


def _speech(seconds: float, seed: int, longest: float) -> tuple[np.ndarray, int]:
    """The first ``seconds`` of that speech (the cut falls anywhere, in a word or a pause)."""
    samples, rate = _talk(longest, seed)
    return samples[..., : round(seconds * rate)], rate


def audio_cases() -> list[dict]:
    cases = []
    row = ep.BY_ENDPOINT_ID
    rows = (
        (ep.INFINITALK_IMAGE, (30, 45, 75, 100, 240), ("480p", "720p")),
        (ep.INFINITALK_VIDEO, (12, 30, 60), ("480p", "720p")),
        (ep.STABLE_AVATAR, (310,), (None,)),
        (row["fal-ai/bytedance/omnihuman/v1.5"], (75, 130), ("720p", "1080p")),  # 60 s / 30 s per job
        (row["fal-ai/kling-video/ai-avatar/v2/standard"], (130,), (None,)),  # unknown limit: the planning one
        (row["veed/fabric-1.0"], (75,), ("480p",)),
        (row["fal-ai/creatify/aurora"], (75,), ("720p",)),  # seconds rounded up per job
        (
            row["fal-ai/longcat-single-avatar/image-audio-to-video"],
            (75,),
            ("480p",),
        ),  # whole segments per job
    )
    longest = max(max(lengths) for _, lengths, _ in rows)
    for spec, lengths, resolutions in rows:
        for seconds in lengths:
            for seed in range(2):
                samples, rate = _speech(seconds, seed, longest)
                audio = {"waveform": samples, "sample_rate": rate}
                audio_s = samples.shape[-1] / rate
                media = {"audio": audio}
                source_s = None
                if spec is ep.INFINITALK_VIDEO:  # the source video, as frames at 25 fps, a little longer
                    source_frames = round(audio_s * 25) + 12 * seed
                    media["frames"] = np.zeros((source_frames, 2, 2, 3), np.float32)
                    source_s = source_frames / 25
                for resolution in resolutions:
                    values = {"num_frames": 0} if spec.frames else {}
                    if resolution is not None:
                        values["resolution"] = resolution
                    if spec is ep.INFINITALK_VIDEO:
                        values["fps"] = 25.0
                    cases.append(
                        {
                            "node_id": spec.node_id,
                            "values": values,
                            "audio_s": audio_s,
                            "source_s": source_s,
                            "py": run_case(spec, values, **media),
                        }
                    )
    return cases


def texts() -> list[str]:
    rng = np.random.default_rng(7)

    def sentence(words: int, clauses: int = 0) -> str:
        parts = [" ".join(rng.choice(WORDS, size=words)) for _ in range(clauses + 1)]
        return ", ".join(parts).capitalize() + rng.choice([".", "!", "?"])

    out = [" ".join(sentence(int(rng.integers(6, 20))) for _ in range(n)) for n in (30, 60, 120, 200)]
    out.append(" ".join(sentence(int(rng.integers(15, 30)), clauses=3) for _ in range(25)))  # long sentences
    out.append(" ".join(rng.choice(WORDS, size=900)))  # no punctuation at all
    out.append("\n\n".join(sentence(10) + "   " + sentence(14) for _ in range(50)))  # extra whitespace
    out.append("。".join("这是一个很长的句子用来测试中文文本的分段" * 2 for _ in range(60)) + "。")
    out.append(" ".join(sentence(12) for _ in range(1000))[: ep.LONG_TEXT_CHARS].rsplit(" ", 1)[0])
    return out


def text_cases() -> list[dict]:
    cases = []
    for text in texts():
        values = {
            "text_input": text,
            "num_frames": 0,
            "resolution": "480p",
            "voice": "Sarah",
            "prompt": "talk",
        }
        cases.append(
            {
                "node_id": ep.INFINITALK_TEXT.node_id,
                "values": values,
                "py": run_case(ep.INFINITALK_TEXT, values),
            }
        )
    return cases


if __name__ == "__main__":
    print(json.dumps({"catalog": catalog_json(), "cases": audio_cases() + text_cases()}))
