"""Looking requests up in fal's request history (Platform API "List requests by endpoint"): the exact request
over MockTransport, then end to end against the emulator (pagination, time window, matching by arguments,
payload-less records, failures that mean "unknown")."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime, timedelta, timezone

import _http
import httpx
import pytest
from test_transport_support import KEY, NGINX, URLS, jresp, make_client, run

from comfyui_fal_avatar.nodes.credentials import Credentials
from comfyui_fal_avatar.nodes.errors import ConfigError, RequestLookupUnavailableError
from comfyui_fal_avatar.nodes.fal import FalClient, RequestRecord, match_by_arguments, normalised_arguments
from comfyui_fal_avatar.nodes.fal.request_history import MAX_PAGES, parse_time
from comfyui_fal_avatar.nodes.settings import FalUrls

API = "https://api.test"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
ITEM = {
    "request_id": "r-1",
    "endpoint_id": "fal-ai/infinitalk",
    "sent_at": "2025-03-01T12:00:01Z",
    "started_at": "2025-03-01T12:00:05.5Z",
    "ended_at": "2025-03-01T12:00:08.123456+00:00",
    "status_code": 200,
    "duration": 7.8,
    "json_input": {"prompt": "hi", "seed": 42},
    "json_output": {"video": {"url": "https://v3.fal.media/x.mp4"}},
}


def api_client(handler):
    """A MockTransport client whose Platform API origin is ``API``."""
    client, rec = make_client(handler)
    client._urls = FalUrls(queue=URLS.queue, rest=URLS.rest, cdn=URLS.cdn, api=API)
    return client, rec


# --- the request on the wire -------------------------------------------------------------------------------


def test_request_shape_pagination_and_parsing():
    pages = [
        jresp(200, {"items": [ITEM], "next_cursor": "Mg==", "has_more": True}),
        jresp(
            200,
            {
                "items": [
                    {
                        "request_id": "r-2",
                        "endpoint_id": "fal-ai/infinitalk",
                        "sent_at": "2025-03-01",
                        "ended_at": None,
                        "status_code": None,
                    }
                ],
                "next_cursor": None,
                "has_more": False,
            },
        ),
    ]
    client, rec = api_client(lambda r: pages.pop(0))
    records = run(client.find_requests("fal-ai/infinitalk", since=T0, until=T0 + timedelta(hours=1)))
    first, second = rec.requests
    assert first.method == "GET" and str(first.url).split("?")[0] == f"{API}/v1/models/requests/by-endpoint"
    assert first.headers["authorization"] == f"Key {KEY}"
    assert dict(first.url.params) == {
        "endpoint_id": "fal-ai/infinitalk",
        "start": "2025-03-01T12:00:00.000Z",
        "end": "2025-03-01T13:00:00.000Z",
        "limit": "100",
        "expand": "payloads",
    }
    assert dict(second.url.params) == {**dict(first.url.params), "cursor": "Mg=="}
    assert records[0] == RequestRecord(
        request_id="r-1",
        endpoint_id="fal-ai/infinitalk",
        sent_at=T0 + timedelta(seconds=1),
        started_at=T0 + timedelta(seconds=5.5),
        ended_at=T0 + timedelta(seconds=8.123456),
        status_code=200,
        duration_s=7.8,
        json_input={"prompt": "hi", "seed": 42},
        json_output=ITEM["json_output"],
    )
    assert records[1].sent_at == datetime(2025, 3, 1, tzinfo=timezone.utc)
    assert records[1].ended_at is None and records[1].status_code is None and records[1].json_input is None


def test_sub_path_endpoints_are_looked_up_by_their_full_id():
    client, rec = api_client(lambda r: jresp(200, {"items": [], "has_more": False}))
    assert (
        run(client.find_requests("fal-ai/infinitalk/single-text/", since=T0, until=T0 + timedelta(hours=1)))
        == []
    )
    assert rec.requests[0].url.params["endpoint_id"] == "fal-ai/infinitalk/single-text"


def test_naive_times_are_refused():
    client, rec = api_client(lambda r: jresp(200, {"items": []}))
    with pytest.raises(ValueError, match="timezone-aware"):
        run(client.find_requests("fal-ai/infinitalk", since=datetime(2025, 1, 1), until=T0))
    assert rec.requests == []


@pytest.mark.parametrize(
    ("response", "status", "words"),
    [
        (jresp(401, {"detail": "No user found for Key ID and Secret"}), 401, "rejected the key"),
        (jresp(403, {"detail": "Forbidden"}), 403, "ADMIN-scope key"),
        (jresp(404, {"detail": "Not Found"}), 404, "FAL_API_URL"),
        (httpx.Response(502, content=NGINX), 502, "Platform API failed (HTTP 502)"),
        (jresp(200, {"unexpected": True}), None, "not a request list"),
        (jresp(200, {"items": [{"no": "id"}]}), None, "could not be read"),
    ],
)
def test_failures_are_typed_and_mean_unknown(response, status, words):
    client, _ = api_client(lambda r: response)
    with pytest.raises(RequestLookupUnavailableError) as info:
        run(client.find_requests("fal-ai/infinitalk", since=T0, until=T0 + timedelta(hours=1)))
    error = info.value
    assert error.status == status and words in str(error)
    assert "Whether fal has the job is unknown" in str(error) and KEY not in str(error)


def test_network_failure_is_typed():
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    client, rec = api_client(refuse)
    with pytest.raises(RequestLookupUnavailableError, match="could not be reached"):
        run(client.find_requests("fal-ai/infinitalk", since=T0, until=T0 + timedelta(hours=1)))
    assert len(rec.requests) > 1  # retried like any idempotent call first


def test_too_many_pages_is_inconclusive_not_partial():
    client, rec = api_client(lambda r: jresp(200, {"items": [ITEM], "next_cursor": "eA==", "has_more": True}))
    with pytest.raises(RequestLookupUnavailableError, match="would be incomplete"):
        run(client.find_requests("fal-ai/infinitalk", since=T0, until=T0 + timedelta(hours=1)))
    assert len(rec.requests) == MAX_PAGES


def test_the_key_goes_to_the_api_origin_only_when_configured():
    client, rec = make_client(lambda r: jresp(200, {"items": []}))  # FAL_API_URL left at https://api.fal.ai
    client._urls = FalUrls(queue=URLS.queue, rest=URLS.rest, cdn=URLS.cdn, api="https://api.fal.ai")
    run(client.find_requests("fal-ai/infinitalk", since=T0, until=T0 + timedelta(hours=1)))
    assert (
        rec.requests[0].url.host == "api.fal.ai" and rec.requests[0].headers["authorization"] == f"Key {KEY}"
    )
    client = FalClient(
        Credentials(key=KEY, source="env"), URLS, transport=httpx.MockTransport(lambda r: jresp(200, {}))
    )
    with pytest.raises(
        ConfigError, match="Refusing to send the fal key"
    ):  # URLS.api is fal's; this asks elsewhere
        run(client._http.call("GET", "https://elsewhere.test/v1/models/requests/by-endpoint", what="x"))


def test_fal_api_url_setting(monkeypatch):
    assert FalUrls.from_env().api == "https://api.fal.ai"
    monkeypatch.setenv("FAL_API_URL", "http://127.0.0.1:9/")
    assert FalUrls.from_env().api == "http://127.0.0.1:9"
    monkeypatch.setenv("FAL_API_URL", "api.fal.ai")
    with pytest.raises(ConfigError, match="FAL_API_URL must be a URL"):
        FalUrls.from_env()


def test_times_parse_leniently():
    assert parse_time("2025-03-01T12:00:00.5+02:00") == datetime(
        2025, 3, 1, 10, 0, 0, 500000, tzinfo=timezone.utc
    )
    assert parse_time("2025-03-01T12:00:00.1234567Z") == datetime(
        2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc
    )
    assert parse_time(None) is None and parse_time("soon") is None and parse_time(12) is None


# --- matching by arguments ---------------------------------------------------------------------------------


def record(request_id: str, json_input, seconds: int = 0) -> RequestRecord:
    return RequestRecord(
        request_id, "fal-ai/infinitalk", T0 + timedelta(seconds=seconds), None, None, None, None, json_input
    )


def test_normalisation_treats_equal_json_meanings_as_equal():
    ours = {"prompt": "hi", "guidance_scale": 5.0, "sizes": (1, 2), "negative": None, "nested": {"a": 1.5}}
    echoed = json.loads('{"nested": {"a": 1.5}, "sizes": [1, 2], "guidance_scale": 5, "prompt": "hi"}')
    assert normalised_arguments(ours) == normalised_arguments(echoed)
    assert normalised_arguments({"seed": 1}) != normalised_arguments({"seed": 2})
    assert normalised_arguments({"prompt": "hi"}) != normalised_arguments({"prompt": "hi "})


def test_match_by_arguments_newest_first_and_says_when_it_cannot_tell():
    wanted = {"prompt": "hi", "seed": 7}
    records = [
        record("old", {"seed": 7, "prompt": "hi"}, 1),
        record("other", {"prompt": "hi", "seed": 8}, 2),
        record("new", {"prompt": "hi", "seed": 7.0}, 3),
        record("blind", None, 4),
    ]
    found = match_by_arguments(records, wanted)
    assert [r.request_id for r in found.matches] == ["new", "old"] and found.best.request_id == "new"
    assert [r.request_id for r in found.unverifiable] == ["blind"] and found.conclusive
    none = match_by_arguments(records, {"prompt": "bye"})
    assert none.best is None and not none.conclusive  # "blind" might be it: unknown, not "no job"
    assert match_by_arguments(records[:3], {"prompt": "bye"}).conclusive  # every record compared: no job


# --- against the emulator ----------------------------------------------------------------------------------


def emulator_client(emulator) -> FalClient:
    return FalClient(Credentials(key=emulator.key, source="env"), FalUrls.single(emulator.base_url))


def submit_all(client: FalClient, endpoint: str, argument_sets: list[dict]) -> list[str]:
    async def go():
        return [(await client.submit(endpoint, arguments)).request_id for arguments in argument_sets]

    return run(go())


def find(client: FalClient, endpoint: str, since: datetime, until: datetime, **kw) -> list[RequestRecord]:
    return run(client.find_requests(endpoint, since=since, until=until, **kw))


WIDE = (datetime.now(timezone.utc) - timedelta(hours=1), datetime.now(timezone.utc) + timedelta(hours=1))


def test_emulator_lists_submitted_requests_with_their_arguments_across_pages(emulator):
    client = emulator_client(emulator)
    arguments = [
        {"prompt": f"take {i}", "image_url": "data:image/png;base64,AA==", "seed": i} for i in range(5)
    ]
    ids = submit_all(client, "fal-ai/infinitalk", arguments)
    submit_all(client, "fal-ai/infinitalk/single-text", [{"text_input": "other endpoint"}])
    emulator.clear_log()
    records = find(client, "fal-ai/infinitalk", *WIDE, page_size=2)
    assert emulator.count("request_history") == 3  # 2 + 2 + 1
    assert sorted(r.request_id for r in records) == sorted(ids)
    by_id = {r.request_id: r for r in records}
    for request_id, sent in zip(ids, arguments, strict=True):
        assert by_id[request_id].json_input == sent and by_id[request_id].endpoint_id == "fal-ai/infinitalk"
        assert by_id[request_id].sent_at is not None
    found = match_by_arguments(records, {**arguments[3], "seed": 3.0})
    assert found.best.request_id == ids[3] and len(found.matches) == 1 and found.conclusive
    missing = match_by_arguments(records, {**arguments[3], "seed": 99})
    assert missing.matches == () and missing.conclusive


def test_emulator_time_window_and_finished_jobs(emulator):
    client = emulator_client(emulator)
    ids = submit_all(client, "fal-ai/infinitalk", [{"prompt": f"p{i}"} for i in range(3)])
    records = sorted(find(client, "fal-ai/infinitalk", *WIDE), key=lambda r: r.sent_at)
    assert [r.request_id for r in records] == ids
    since = records[1].sent_at
    assert [r.request_id for r in find(client, "fal-ai/infinitalk", since, WIDE[1])] in (ids[1:], ids[:0:-1])
    assert find(client, "fal-ai/infinitalk", WIDE[0], records[0].sent_at) == []  # the end is exclusive
    assert find(client, "fal-ai/infinitalk", WIDE[1], WIDE[1] + timedelta(hours=1)) == []

    async def wait_done():
        while any(job.state != "COMPLETED" for job in emulator.jobs.values()):
            await asyncio.sleep(0.05)

    run(wait_done())
    done = find(client, "fal-ai/infinitalk", *WIDE)
    assert all(r.ended_at is not None and r.status_code is not None and r.duration_s >= 0 for r in done)
    assert all(r.json_output is not None for r in done)


def test_emulator_history_needs_the_key_and_answers_faults_as_unknown(emulator):
    client = emulator_client(emulator)
    emulator.inject("request_history", "locked")  # a 403
    with pytest.raises(RequestLookupUnavailableError) as info:
        find(client, "fal-ai/infinitalk", *WIDE)
    assert info.value.status == 403 and "not allowed to read it" in str(info.value)
    emulator.inject("request_history", "http_500", times=10)
    with pytest.raises(RequestLookupUnavailableError, match="HTTP 500"):
        find(client, "fal-ai/infinitalk", *WIDE)
    emulator.clear_faults()
    wrong = FalClient(Credentials(key="wrong:key", source="env"), FalUrls.single(emulator.base_url))
    with pytest.raises(RequestLookupUnavailableError, match="rejected the key") as info:
        find(wrong, "fal-ai/infinitalk", *WIDE)
    assert info.value.status == 401


def test_emulator_query_validation(emulator):
    url = f"{emulator.base_url}/v1/models/requests/by-endpoint"
    headers = {"Authorization": f"Key {emulator.key}"}
    assert _http.get(url, headers=headers).status_code == 422  # endpoint_id is required
    assert _http.get(url, headers=headers, params={"endpoint_id": "x", "limit": "101"}).status_code == 422
    assert _http.get(url, headers=headers, params={"endpoint_id": "x", "cursor": "!!"}).status_code == 422
    page = _http.get(
        url, headers=headers, params={"endpoint_id": "x", "cursor": base64.b64encode(b"3").decode()}
    )
    assert page.json() == {"items": [], "next_cursor": None, "has_more": False}
    assert _http.post(url, headers=headers).status_code == 405
