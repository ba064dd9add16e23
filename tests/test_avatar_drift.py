"""Reading fal's OpenAPI documents (every field shape fal's generators emit) and comparing them with the
endpoint rows: what is a difference, what is not, and what the user is told. Pure: no network."""

from __future__ import annotations

import copy

import pytest

from comfyui_fal_avatar.nodes.avatar import drift
from comfyui_fal_avatar.nodes.avatar.endpoints import (
    GENERATION_ENDPOINTS,
    INFINITALK_IMAGE,
    INFINITALK_TEXT,
    INFINITALK_VIDEO,
    STABLE_AVATAR,
)
from comfyui_fal_avatar.nodes.avatar.fal_schema import MISSING, SchemaFormatError, parse_openapi
from comfyui_fal_avatar.nodes.emulator import openapi
from comfyui_fal_avatar.nodes.emulator.fal_schemas import build_schemas

SCHEMAS = build_schemas()


def document(endpoint_id: str) -> dict:
    """The emulator's document for ``endpoint_id`` (same layout as fal's), fresh for each test."""
    return openapi.document(endpoint_id, SCHEMAS[endpoint_id], "http://127.0.0.1:1")


def props(doc: dict) -> dict:
    (name,) = [n for n in doc["components"]["schemas"] if n.endswith("Input")]
    return doc["components"]["schemas"][name]["properties"]


def input_schema(doc: dict) -> dict:
    (name,) = [n for n in doc["components"]["schemas"] if n.endswith("Input")]
    return doc["components"]["schemas"][name]


def kinds(check: drift.EndpointCheck) -> list[tuple[str, str | None, str]]:
    return [(d.kind, d.field, d.severity) for d in check.differences]


# --- reading the document ----------------------------------------------------------------------------------


# A document in the shape of pydantic v1 output (allOf around shared enum schemas, OpenAPI 3.0 boolean
# exclusive bounds, nullable: true), with no paths section: the input schema is found by fal's naming.
V1_STYLE = {
    "openapi": "3.0.4",
    "info": {
        "title": "Queue OpenAPI for fal-ai/example/sub",
        "x-fal-metadata": {"endpointId": "fal-ai/example/sub"},
    },
    "components": {
        "schemas": {
            "QueueStatus": {"type": "object", "properties": {"status": {"type": "string"}}},
            "OtherThingInput": {"type": "object", "properties": {"x": {"type": "string"}}},
            "ExampleSubInput": {
                "type": "object",
                "x-fal-order-properties": ["prompt", "resolution", "strength", "seed", "steps"],
                "required": ["prompt"],
                "properties": {
                    "steps": {"type": "integer", "minimum": 1, "exclusiveMaximum": True, "maximum": 51},
                    "seed": {"type": "integer", "nullable": True},
                    "strength": {
                        "type": ["number", "null"],
                        "exclusiveMinimum": 0,
                        "maximum": 1,
                        "default": 0.5,
                    },
                    "resolution": {
                        "allOf": [{"$ref": "#/components/schemas/ResolutionEnum"}],
                        "default": "480p",
                    },
                    "prompt": {"type": "string", "title": "Prompt"},
                },
            },
            "ResolutionEnum": {"title": "ResolutionEnum", "type": "string", "enum": ["480p", "720p"]},
        }
    },
}


def test_pydantic_v1_shapes_are_read():
    schema = parse_openapi(V1_STYLE, "fal-ai/example/sub")
    assert schema.endpoint_id == "fal-ai/example/sub" and schema.name == "ExampleSubInput"
    assert [f.name for f in schema.fields] == ["prompt", "resolution", "strength", "seed", "steps"]
    assert schema.required == {"prompt"}
    resolution = schema.get("resolution")
    assert (
        resolution.types == {"string"}
        and resolution.enum == ("480p", "720p")
        and resolution.default == "480p"
    )
    strength = schema.get("strength")
    assert strength.types == {"number"} and strength.nullable and strength.exclusive_minimum == 0
    assert strength.minimum is None and strength.maximum == 1 and strength.default == 0.5
    seed = schema.get("seed")
    assert seed.types == {"integer"} and seed.nullable and seed.default is MISSING
    steps = schema.get("steps")  # OpenAPI 3.0: a boolean exclusiveMaximum qualifies maximum
    assert steps.minimum == 1 and steps.maximum is None and steps.exclusive_maximum == 51


def test_pydantic_v2_anyof_null_and_submit_reference_are_read():
    doc = {
        "info": {"x-fal-metadata": {"endpointId": "fal-ai/v2"}},
        "paths": {
            "/fal-ai/v2/requests/{request_id}": {"get": {}},
            "/fal-ai/v2": {"post": {"requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Renamed"}}}}}},
        },
        "components": {"schemas": {
            "Renamed": {"properties": {
                "aspect_ratio": {"anyOf": [{"enum": ["auto", "1:1"], "type": "string"}, {"type": "null"}],
                                 "default": "auto"},
                "size": {"anyOf": [{"$ref": "#/components/schemas/Size"},
                                   {"enum": ["square"], "type": "string"}]},
                "mode": {"const": "fast"},
                "count": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 4}, {"type": "null"}]},
            }, "required": ["mode", "not-a-property"]},
            "Size": {"type": "object", "properties": {"w": {"type": "integer"}}},
        }},
    }  # fmt: skip
    schema = parse_openapi(doc, "fal-ai/v2")
    assert schema.name == "Renamed" and schema.required == {"mode", "not-a-property"}
    aspect = schema.get("aspect_ratio")
    assert aspect.types == {"string"} and aspect.nullable and aspect.enum == ("auto", "1:1")
    assert schema.get("size").types == {"object", "string"} and schema.get("size").enum == ("square",)
    assert schema.get("mode").enum == ("fast",) and schema.get("mode").types == {"string"}
    count = schema.get("count")
    assert count.types == {"integer"} and (count.minimum, count.maximum) == (1, 4) and count.nullable


def test_the_emulator_document_has_fals_layout():
    doc = document("fal-ai/infinitalk/single-text")
    assert doc["info"]["x-fal-metadata"]["endpointId"] == "fal-ai/infinitalk/single-text"
    assert "InfinitalkSingleTextInput" in doc["components"]["schemas"]
    schema = parse_openapi(doc, "fal-ai/infinitalk/single-text")
    assert [f.name for f in schema.fields][:4] == ["image_url", "text_input", "voice", "prompt"]
    assert schema.required == {"image_url", "text_input", "voice", "prompt"}
    seed = schema.get("seed")  # nullable in the emulator: written as pydantic v2 does
    assert seed.nullable and seed.types == {"integer"} and seed.default == 42


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"components": {"schemas": {"QueueStatus": {"properties": {"status": {}}}}}},
        {"paths": "nonsense"},
        [],
    ],
)
def test_a_document_without_input_schema_is_unreadable(doc):
    with pytest.raises(SchemaFormatError, match="no input schema"):
        parse_openapi(doc, "fal-ai/infinitalk")
    check = drift.check_document(INFINITALK_IMAGE, doc)
    assert check.status == drift.DRIFT and kinds(check) == [("unreadable", None, drift.BREAKING)]
    assert "fal may have changed its format" in check.differences[0].message


def test_a_ref_cycle_does_not_hang():
    doc = {"components": {"schemas": {"LoopInput": {"$ref": "#/components/schemas/LoopInput"}}}}
    with pytest.raises(SchemaFormatError):
        parse_openapi(doc, "fal-ai/loop")


# --- what the rows send ------------------------------------------------------------------------------------


def test_sent_fields_follow_what_the_plan_sends():
    fields = {f.name: f for f in drift.sent_fields(INFINITALK_VIDEO)}
    assert list(fields) == [
        "video_url",
        "audio_url",
        "prompt",
        "num_frames",
        "resolution",
        "acceleration",
        "seed",
    ]
    assert "fps" not in fields  # local widget, never sent
    frames = fields["num_frames"]  # the frame rule, not the widget's 0 = auto
    assert (frames.minimum, frames.maximum, frames.default, frames.json_type) == (41, 241, 145, "integer")
    assert fields["prompt"].default is MISSING and fields["resolution"].options == ("480p", "720p")
    seed = {f.name: f for f in drift.sent_fields(STABLE_AVATAR)}["seed"]
    assert not seed.always and seed.omitted_when == -1 and seed.minimum == 0 and seed.default is MISSING


# --- comparing ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", GENERATION_ENDPOINTS, ids=lambda s: s.endpoint_id)
def test_rows_match_the_emulators_schemas(spec):
    check = drift.check_document(spec, document(spec.endpoint_id))
    assert (check.status, check.differences) == (drift.OK, ())


def test_the_4n_plus_1_rule_and_bounds_fal_does_not_state_are_not_differences():
    doc = document("fal-ai/stable-avatar")
    del props(doc)["guidance_scale"]["maximum"]  # fal stating no maximum: the row's 10 is the widget's own
    assert drift.check_document(STABLE_AVATAR, doc).status == drift.OK
    doc = document("fal-ai/infinitalk")
    props(doc)["num_frames"]["multipleOf"] = 1
    assert drift.check_document(INFINITALK_IMAGE, doc).status == drift.OK


def mutate(endpoint_id, change):
    doc = document(endpoint_id)
    change(doc)
    return doc


def _remove(mapping, key):
    del mapping[key]


DRIFTS = [
    # (row, change, (kind, field, severity), words in the message)
    (INFINITALK_VIDEO, lambda d: props(d)["num_frames"].update(maximum=129),
     ("maximum_changed", "num_frames", drift.BREAKING), ["129", "241", "HTTP 422"]),
    (INFINITALK_IMAGE, lambda d: props(d)["num_frames"].update(maximum=1441),
     ("maximum_changed", "num_frames", drift.CHANGED), ["up to 1441", "stops at 721"]),
    (STABLE_AVATAR, lambda d: props(d)["perturbation"].update(minimum=0.05),
     ("minimum_changed", "perturbation", drift.BREAKING), ["0.05", "or more"]),
    (INFINITALK_IMAGE, lambda d: (props(d).update(mask_url={"type": "string"}),
                                  input_schema(d)["required"].append("mask_url")),
     ("required_added", "mask_url", drift.BREAKING), ["requires 'mask_url'", "does not send"]),
    (STABLE_AVATAR, lambda d: input_schema(d)["required"].append("seed"),
     ("now_required", "seed", drift.BREAKING), ["leaves out when it is -1"]),
    (INFINITALK_TEXT, lambda d: props(d)["voice"]["enum"].remove("Bill"),
     ("options_removed", "voice", drift.BREAKING), ["'Bill'", "19 options"]),
    (INFINITALK_IMAGE, lambda d: props(d)["acceleration"]["enum"].append("turbo"),
     ("options_added", "acceleration", drift.CHANGED), ["'turbo'"]),
    (INFINITALK_IMAGE, lambda d: _remove(props(d), "acceleration"),
     ("field_dropped", "acceleration", drift.BREAKING), ["no longer lists 'acceleration'"]),
    (INFINITALK_IMAGE, lambda d: props(d)["resolution"].update(type="integer"),
     ("type_changed", "resolution", drift.BREAKING), ["integer", "string"]),
    (STABLE_AVATAR, lambda d: props(d)["num_inference_steps"].update(type="number"),
     ("type_changed", "num_inference_steps", drift.CHANGED), ["whole numbers"]),
    (INFINITALK_IMAGE, lambda d: props(d)["resolution"].update(default="720p"),
     ("default_changed", "resolution", drift.CHANGED), ["'720p'", "'480p'", "unaffected"]),
    (INFINITALK_IMAGE, lambda d: d["info"]["x-fal-metadata"].update(endpointId="fal-ai/infinitalk-v2"),
     ("other_endpoint", None, drift.CHANGED), ["fal-ai/infinitalk-v2"]),
    (INFINITALK_IMAGE, lambda d: props(d)["prompt"].update(enum=["a", "b"]),
     ("options_imposed", "prompt", drift.BREAKING), ["'a', 'b'", "any text"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "change", "expected", "words"),
    DRIFTS,
    ids=[f"{e[0]}-{e[1] or 'id'}-{e[2]}" for _, _, e, _ in DRIFTS],
)
def test_each_drift_is_named_with_a_message_a_user_can_act_on(spec, change, expected, words):
    check = drift.check_document(spec, mutate(spec.endpoint_id, change))
    assert check.status == drift.DRIFT
    assert kinds(check) == [expected]
    message = check.differences[0].message
    for word in words:
        assert word in message
    assert check.to_json()["differences"][0]["kind"] == expected[0]


def test_several_drifts_at_once_are_all_reported():
    def change(doc):
        props(doc)["num_frames"]["maximum"] = 129
        props(doc)["acceleration"]["enum"] = ["regular"]
        del props(doc)["seed"]

    check = drift.check_document(INFINITALK_VIDEO, mutate("fal-ai/infinitalk/video-to-video", change))
    assert kinds(check) == [
        ("maximum_changed", "num_frames", drift.BREAKING),
        ("options_removed", "acceleration", drift.BREAKING),
        ("field_dropped", "seed", drift.BREAKING),
    ]


def test_exclusive_bounds_are_compared():
    doc = document("fal-ai/stable-avatar")
    props(doc)["perturbation"].pop("minimum")
    props(doc)["perturbation"]["exclusiveMinimum"] = 0  # the row allows 0
    assert kinds(drift.check_document(STABLE_AVATAR, doc)) == [
        ("minimum_changed", "perturbation", drift.BREAKING)
    ]
    props(doc)["perturbation"]["exclusiveMinimum"] = -1
    assert drift.check_document(STABLE_AVATAR, doc).status == drift.OK


def test_not_listed_and_unreachable_outcomes():
    gone = drift.check_document(STABLE_AVATAR, None)
    assert (
        gone.status == drift.NOT_LISTED and "fal-ai/stable-avatar" in gone.error and "retired" in gone.error
    )
    down = drift.unreachable(STABLE_AVATAR, "Could not reach fal")
    assert down.to_json() == {
        "endpoint_id": "fal-ai/stable-avatar",
        "node_id": "FalStableAvatar",
        "display_name": STABLE_AVATAR.display_name,
        "status": "unreachable",
        "differences": [],
        "error": "Could not reach fal",
    }


def test_comparison_does_not_modify_the_document():
    doc = document("fal-ai/infinitalk")
    before = copy.deepcopy(doc)
    drift.check_document(INFINITALK_IMAGE, doc)
    assert doc == before
