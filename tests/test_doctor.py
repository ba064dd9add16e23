"""`fal-avatar doctor` against the emulator: fal's OpenAPI documents and model catalogue as the emulator
serves them, the report (table and JSON) for matching and drifted documents, the verdicts that tell "no
OpenAPI document" from "not in fal's catalogue" and "deprecated", exit codes, and what is sent where (never
the key to the OpenAPI host, never a submit or an upload). Also: a submit fal answers 404 points at the
doctor."""

from __future__ import annotations

import asyncio
import json
import socket

import _http
import pytest

from comfyui_fal_avatar.nodes.avatar.endpoints import GENERATION_ENDPOINTS
from comfyui_fal_avatar.nodes.cli import main
from comfyui_fal_avatar.nodes.doctor.check import run_doctor
from comfyui_fal_avatar.nodes.errors import NotFoundError
from comfyui_fal_avatar.nodes.fal import FalClient, bounded

OPENAPI_PATH = "/api/openapi/queue/openapi.json"
ENDPOINTS = tuple(spec.endpoint_id for spec in GENERATION_ENDPOINTS)  # every row, in the report's order
DELISTED = {spec.endpoint_id for spec in GENERATION_ENDPOINTS if spec.status == "delisted"}
PAID_OR_UPLOAD = {
    "submit",
    "cdn_upload",
    "multipart_create",
    "multipart_part",
    "storage_initiate",
    "signed_put",
}
HEALTHY = [
    "delisted" if e in DELISTED else "ok" for e in ENDPOINTS
]  # StableAvatar: removed from fal's catalogue
LIVE = len(ENDPOINTS) - len(DELISTED)


def doctor(capsys, *args) -> tuple[int, str]:
    code = main(["doctor", *args])
    out, err = capsys.readouterr()
    assert err == ""
    return code, out


def doctor_json(capsys) -> tuple[int, dict]:
    code, out = doctor(capsys, "--json")
    return code, json.loads(out)


def input_props(doc: dict) -> dict:
    (name,) = [n for n in doc["components"]["schemas"] if n.endswith("Input")]
    return doc["components"]["schemas"][name]["properties"]


def by_id(report: dict) -> dict[str, dict]:
    return {e["endpoint_id"]: e for e in report["endpoints"]}


@pytest.fixture
def closed_port_url():
    """A URL nothing answers on: a port bound but never listening, held for the whole test (a port closed
    at once could be taken meanwhile by another worker's emulator)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


# --- the emulator serves fal's documents -------------------------------------------------------------------


def test_emulator_serves_openapi_documents_without_a_key(emulator):
    url = emulator.base_url + OPENAPI_PATH
    for endpoint_id in ENDPOINTS:
        response = _http.get(url, params={"endpoint_id": endpoint_id})
        assert response.status_code == 200
        assert response.json()["info"]["x-fal-metadata"]["endpointId"] == endpoint_id
    assert _http.get(url, params={"endpoint_id": "fal-ai/unknown"}).status_code == 404
    assert _http.get(url).status_code == 400
    assert _http.post(url, params={"endpoint_id": "fal-ai/infinitalk"}).status_code == 405
    emulator.retire("fal-ai/infinitalk")
    assert _http.get(url, params={"endpoint_id": "fal-ai/infinitalk"}).status_code == 404
    assert emulator.routes() == ["openapi"] * (len(ENDPOINTS) + 4)


# --- a healthy setup ---------------------------------------------------------------------------------------


def test_doctor_against_the_emulator_exits_0(fal_env, capsys):
    code, out = doctor(capsys)
    assert code == 0
    for endpoint_id in ENDPOINTS:
        assert f"{endpoint_id} " in out
    assert out.count(" ok\n") == LIVE and out.count("delisted (expected)\n") == len(DELISTED) == 1
    assert "VALID" in out and "FAL_KEY from the environment" in out
    assert out.count(" reachable  ") == 3 and "UNREACHABLE" not in out
    assert f"catalog  {fal_env.base_url}/v1/models  read" in out
    assert (
        f"result: All {LIVE} endpoints match fal's schemas (1 delisted, as expected)" in out
        and "(exit 0)" in out
    )


def test_json_report_and_what_was_sent_where(fal_env, capsys):
    code, report = doctor_json(capsys)
    assert code == 0 and report["ok"] is True and report["exit_code"] == 0
    assert report["key"] == {
        "present": True,
        "source": "env",
        "state": "valid",
        "message": report["key"]["message"],
    }
    assert [h["name"] for h in report["hosts"]] == ["queue", "rest", "cdn"]
    assert all(h["reachable"] and h["url"] == fal_env.base_url and h["rtt_ms"] >= 0 for h in report["hosts"])
    assert [e["status"] for e in report["endpoints"]] == HEALTHY
    assert "removed it from its catalogue in 2026-08" in by_id(report)["fal-ai/stable-avatar"]["error"]
    assert report["openapi_url"] == fal_env.base_url + OPENAPI_PATH
    assert report["catalogue"] == {"url": fal_env.base_url + "/v1/models", "checked": True, "error": None}

    requests = fal_env.requests
    openapi = [r for r in requests if r.route == "openapi"]
    assert sorted(r.query["endpoint_id"] for r in openapi) == sorted(ENDPOINTS)
    assert all("authorization" not in r.headers for r in openapi)  # the OpenAPI host never gets the key
    (catalogue,) = [r for r in requests if r.route == "models"]  # one lookup for every row
    assert (catalogue.query["limit"], catalogue.query["endpoint_id"]) == (str(len(ENDPOINTS)), ENDPOINTS[-1])
    keyed = [r for r in requests if "authorization" in r.headers]
    assert sorted(r.route for r in keyed) == [
        "models",
        "token",
    ]  # a free CDN token; the catalogue, as the history
    assert not PAID_OR_UPLOAD & {r.route for r in requests}  # read-only: no submit, no upload
    assert fal_env.key not in json.dumps(report) and fal_env.key.split(":")[1] not in json.dumps(report)


# --- drift -------------------------------------------------------------------------------------------------


def _max_129(doc):
    input_props(doc)["num_frames"]["maximum"] = 129


def _new_required(doc):
    (name,) = [n for n in doc["components"]["schemas"] if n.endswith("Input")]
    doc["components"]["schemas"][name]["properties"]["mask_url"] = {"type": "string"}
    doc["components"]["schemas"][name]["required"].append("mask_url")


def _drop_high(doc):
    input_props(doc)["acceleration"]["enum"].remove("high")


def _drop_field(doc):
    del input_props(doc)["acceleration"]


def _seed_as_text(doc):
    input_props(doc)["seed"] = {"type": "string", "title": "Seed"}


DRIFTED = [
    (
        "fal-ai/infinitalk/video-to-video",
        _max_129,
        "maximum_changed",
        "num_frames",
        "fal's maximum for 'num_frames' is 129",
    ),
    ("fal-ai/infinitalk", _new_required, "required_added", "mask_url", "fal now requires 'mask_url'"),
    (
        "fal-ai/infinitalk/single-text",
        _drop_high,
        "options_removed",
        "acceleration",
        "no longer accepts 'high'",
    ),
    ("fal-ai/infinitalk", _drop_field, "field_dropped", "acceleration", "no longer lists 'acceleration'"),
    ("fal-ai/stable-avatar", _seed_as_text, "type_changed", "seed", "expects 'seed' as string"),
]


@pytest.mark.parametrize(
    ("endpoint_id", "change", "kind", "field", "words"), DRIFTED, ids=[d[2] for d in DRIFTED]
)
def test_a_drifted_document_is_named_and_exits_1(fal_env, capsys, endpoint_id, change, kind, field, words):
    doc = fal_env.openapi_document(endpoint_id)
    change(doc)
    fal_env.serve_openapi(endpoint_id, doc)

    code, report = doctor_json(capsys)
    assert code == 1 and report["exit_code"] == 1 and not report["ok"]
    checks = by_id(report)
    assert checks[endpoint_id]["status"] == "drift"
    assert [(d["kind"], d["field"]) for d in checks[endpoint_id]["differences"]] == [(kind, field)]
    assert all(c["status"] in ("ok", "delisted") for i, c in checks.items() if i != endpoint_id)
    assert "1 endpoint(s) drifted" in report["summary"]

    code, table = doctor(capsys)
    assert code == 1 and words in " ".join(table.split())
    assert f"{endpoint_id}  " in table and "DRIFT" in table and "(exit 1)" in table


def test_a_retired_endpoint_is_not_in_fals_catalogue_and_exits_1(fal_env, capsys):
    fal_env.retire("fal-ai/infinitalk")
    code, report = doctor_json(capsys)
    assert code == 1
    gone = by_id(report)["fal-ai/infinitalk"]
    assert gone["status"] == "not_in_catalogue" and "does not list fal-ai/infinitalk" in gone["error"]
    assert "answers HTTP 404: fal has retired or renamed it" in gone["error"]
    assert "1 endpoint(s) not in fal's catalogue" in report["summary"]
    code, table = doctor(capsys)
    assert code == 1 and "NOT IN FAL'S CATALOGUE" in table


def test_no_openapi_document_is_told_apart_from_not_in_the_catalogue(fal_env, capsys):
    fal_env.withdraw_openapi(
        "fal-ai/infinitalk/single-text"
    )  # still listed, still runs: only the document 404s
    fal_env.set_catalogue_status(
        "fal-ai/infinitalk/video-to-video", "absent"
    )  # delisted, document still there
    code, report = doctor_json(capsys)
    assert code == 1
    checks = by_id(report)
    no_doc, unlisted = checks["fal-ai/infinitalk/single-text"], checks["fal-ai/infinitalk/video-to-video"]
    assert no_doc["status"] == "no_document" and "publishes no OpenAPI document" in no_doc["error"]
    assert (
        unlisted["status"] == "not_in_catalogue"
        and "still publishes its OpenAPI document" in unlisted["error"]
    )
    assert (checks["fal-ai/infinitalk"]["status"], checks["fal-ai/stable-avatar"]["status"]) == (
        "ok",
        "delisted",
    )
    code, table = doctor(capsys)
    assert code == 1 and "NO OPENAPI DOCUMENT" in table and "NOT IN FAL'S CATALOGUE" in table


def test_a_deprecated_endpoint_exits_1(fal_env, capsys):
    fal_env.set_catalogue_status("fal-ai/infinitalk", "deprecated")
    code, report = doctor_json(capsys)
    assert code == 1
    deprecated = by_id(report)["fal-ai/infinitalk"]
    assert (
        deprecated["status"] == "deprecated" and "marks fal-ai/infinitalk deprecated" in deprecated["error"]
    )
    code, table = doctor(capsys)
    assert code == 1 and "DEPRECATED" in table and "1 endpoint(s) deprecated" in table


def test_a_delisted_row_listed_again_is_checked_as_live(fal_env, capsys):
    fal_env.set_catalogue_status("fal-ai/stable-avatar", "active")
    code, report = doctor_json(capsys)
    assert code == 0 and [e["status"] for e in report["endpoints"]] == ["ok"] * len(ENDPOINTS)


def test_an_unreadable_catalogue_keeps_the_documents_verdicts_and_exits_3(fal_env, capsys):
    fal_env.inject("models", "http_500", times=2)  # the doctor retries once
    code, report = doctor_json(capsys)
    assert code == 3 and "fal's model catalogue could not be read" in report["summary"]
    assert report["catalogue"]["checked"] is False and "could not be read" in report["catalogue"]["error"]
    assert [e["status"] for e in report["endpoints"]] == ["ok"] * len(
        ENDPOINTS
    )  # unknown: no catalogue verdict

    fal_env.inject("models", "http_500", times=2)
    fal_env.withdraw_openapi("fal-ai/infinitalk")
    code, table = doctor(capsys)
    assert code == 1  # the missing document is a finding even without the catalogue
    assert "NO OPENAPI DOCUMENT" in table and "catalog" in table and "UNREACHABLE" in table


def test_a_document_that_is_not_a_json_object_is_unreadable_drift(fal_env, capsys):
    fal_env.serve_openapi("fal-ai/infinitalk", ["not", "a", "document"])
    code, report = doctor_json(capsys)
    assert code == 1
    (difference,) = by_id(report)["fal-ai/infinitalk"]["differences"]
    assert (
        difference["kind"] == "unreadable"
        and "(HTTP 200): fal's answer was not a schema" in difference["message"]
    )
    assert "it is a JSON list, not an object" in difference["message"]


# --- fal out of reach, key problems ------------------------------------------------------------------------


def test_unreachable_fal_exits_3(closed_port_url, monkeypatch, capsys):
    dead = closed_port_url
    monkeypatch.setenv("FAL_KEY", "some-id:some-secret")
    for name in ("FAL_QUEUE_URL", "FAL_REST_URL", "FAL_CDN_URL"):
        monkeypatch.setenv(name, dead)
    monkeypatch.setenv("FAL_OPENAPI_URL", dead + OPENAPI_PATH)
    code, report = doctor_json(capsys)
    assert code == 3 and report["exit_code"] == 3
    assert [e["status"] for e in report["endpoints"]] == ["unreachable"] * len(ENDPOINTS)
    assert "Could not reach fal" in report["endpoints"][0]["error"]
    assert not any(h["reachable"] for h in report["hosts"])
    assert report["key"]["state"] == "unreachable"
    code, table = doctor(capsys)
    assert code == 3 and table.count("UNREACHABLE") >= 7


def test_a_document_that_fails_is_unreachable_and_drift_still_wins(fal_env, capsys):
    fal_env.inject("openapi", "http_500")
    code, report = doctor_json(capsys)
    assert code == 3
    assert [e["status"] for e in report["endpoints"]].count("unreachable") == 1

    fal_env.inject("openapi", "http_500")
    fal_env.retire("fal-ai/infinitalk/video-to-video")
    code, report = doctor_json(capsys)
    statuses = [e["status"] for e in report["endpoints"]]
    assert "not_in_catalogue" in statuses and "unreachable" in statuses
    assert code == 1  # a definite finding outranks "could not check everything"


def test_rejected_and_missing_keys_exit_2_without_showing_the_key(fal_env, monkeypatch, capsys):
    monkeypatch.setenv("FAL_KEY", "wrong-id:wrong-secret")
    code, report = doctor_json(capsys)
    assert code == 2 and report["key"]["state"] == "rejected" and report["key"]["present"]
    assert "wrong-secret" not in json.dumps(report)
    code, table = doctor(capsys)
    assert code == 2 and "REJECTED" in table and "wrong-secret" not in table

    monkeypatch.delenv("FAL_KEY")
    code, report = doctor_json(capsys)
    assert code == 2 and report["key"] == {
        "present": False,
        "source": None,
        "state": "missing",
        "message": report["key"]["message"],
    }
    assert "FAL_KEY" in report["key"]["message"]
    assert [
        e["status"] for e in report["endpoints"]
    ] == HEALTHY  # the documents and the catalogue need no key
    assert report["catalogue"]["checked"] is True


def test_a_locked_account_is_reported(fal_env, capsys):
    fal_env.locked = True
    code, report = doctor_json(capsys)
    assert (
        code == 2 and report["key"]["state"] == "locked" and "Exhausted balance" in report["key"]["message"]
    )


def test_run_doctor_takes_an_explicit_client_and_url(emulator):
    from comfyui_fal_avatar.nodes.credentials import Credentials
    from comfyui_fal_avatar.nodes.settings import FalUrls

    client = FalClient(Credentials(emulator.key, "env"), FalUrls.single(emulator.base_url))
    report = asyncio.run(run_doctor(client, url=emulator.base_url + OPENAPI_PATH))
    assert [c.status for c in report.endpoints] == HEALTHY
    assert report.key.state == "missing"  # no key in the environment or saved: nothing to check


# --- a submit fal answers 404 ------------------------------------------------------------------------------


def test_submit_to_a_retired_endpoint_names_it_and_points_at_doctor(fal_env):
    fal_env.retire("fal-ai/stable-avatar")

    async def submit():
        async with FalClient() as client:
            return await client.submit("fal-ai/stable-avatar", {"prompt": "x"})

    with pytest.raises(NotFoundError) as info:
        asyncio.run(submit())
    message = str(info.value)
    assert "fal-ai/stable-avatar" in message and "retired" in message and "fal-avatar doctor" in message
    assert "Nothing was charged" in message and info.value.status == 404
    assert fal_env.count("submit") == 1  # not retried


def test_generate_on_a_retired_endpoint_fails_before_paying_and_says_why(fal_env, capsys):
    from pathlib import Path

    from comfyui_fal_avatar.nodes.store.journal import Journal

    assets = Path(__file__).resolve().parent.parent / "nodes" / "assets"
    fal_env.retire("fal-ai/stable-avatar")
    code = main(["generate", "fal-ai/stable-avatar", "--image", str(assets / "sample_portrait.png"),
                 "--audio", str(assets / "sample_speech.wav")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 3
    assert "fal has no endpoint fal-ai/stable-avatar" in err and "fal-avatar doctor" in err
    assert fal_env.count("submit") == 1 and not fal_env.jobs
    assert Journal().entries() == []  # nothing left "submitting": no job exists


# --- answers no schema could be: endless, trickling, deeply nested -----------------------------------------


def test_an_endless_trickling_or_nested_schema_answer_is_named_and_never_held(fal_env, capsys, monkeypatch):
    fal_env.inject("openapi", "endless")
    code, report = doctor_json(capsys)
    assert code == 3
    (endless,) = [e for e in report["endpoints"] if e["status"] == "unreachable"]
    assert "fal's answer was too large" in endless["error"] and OPENAPI_PATH in endless["error"]

    # a short deadline for the trickle alone: the endless and nested answers must meet only the size and
    # depth limits, however loaded the machine (under load, 0.5 s also cut those short)
    quick = bounded.ReadLimit(max_bytes=bounded.SCHEMA.max_bytes, deadline_s=0.5)
    monkeypatch.setattr("comfyui_fal_avatar.nodes.fal.openapi.SCHEMA", quick)
    fal_env.inject("openapi", "slow", times=2 * len(ENDPOINTS), bytes_per_s=1)  # every attempt of every row
    code, report = doctor_json(capsys)
    monkeypatch.setattr("comfyui_fal_avatar.nodes.fal.openapi.SCHEMA", bounded.SCHEMA)
    expected = ["delisted" if spec.status == "delisted" else "unreachable" for spec in GENERATION_ENDPOINTS]
    assert (
        code == 3 and [e["status"] for e in report["endpoints"]] == expected
    )  # a delisted row stays delisted
    slow = report["endpoints"][0]["error"]
    assert "fal's answer was too slow" in slow and OPENAPI_PATH in slow

    fal_env.inject("openapi", "nested")
    code, report = doctor_json(capsys)
    assert code == 1
    (nested,) = [e for e in report["endpoints"] if e["differences"]]
    assert "fal's answer was not a schema" in nested["differences"][0]["message"]
    assert "nests more than 200 levels" in nested["differences"][0]["message"]


def test_a_host_whose_root_answer_never_ends_is_still_probed(fal_env, capsys):
    fal_env.inject("other", "endless")
    code, report = doctor_json(capsys)
    assert code == 0 and all(h["reachable"] for h in report["hosts"])
