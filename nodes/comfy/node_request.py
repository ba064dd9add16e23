"""A generation node's inputs as a GenerationRequest: the one function the node and the queue-ahead watcher
share, so that a job started early has exactly the request key the node computes when it runs."""

from __future__ import annotations

from ..avatar.endpoints import EndpointSpec
from ..pipeline.inputs import GenerationRequest, JobOrigin
from . import schema
from .conversions import video_fields
from .graph import duplicate_index, output_is_linked


def node_request(
    spec: EndpointSpec,
    kwargs: dict,
    prompt: dict | None,
    node_id: str | None,
    origin: JobOrigin | None = None,
) -> GenerationRequest:
    """``kwargs``: the node's inputs as ComfyUI hands them to ``execute`` (widget values and media);
    ``prompt``: the API-format prompt the node is in (its duplicate index and linked outputs)."""
    values = {p.name: kwargs[p.name] for p in spec.params if p.name in kwargs}
    media = {
        slot.name: kwargs.get(slot.name) for slot in spec.media if slot.kind in ("image", "audio", "mask")
    }
    video = {"frames": kwargs.get("frames")}  # the 'frames' IMAGE input, unless a VIDEO is connected
    if kwargs.get("video") is not None:
        video = video_fields(kwargs["video"])  # a VIDEO made of tensors brings its own frame rate
    return GenerationRequest(
        spec=spec,
        values=values,
        want_frames=output_is_linked(prompt, node_id, schema.FRAMES_OUTPUT),
        take=duplicate_index(prompt, node_id),
        origin=origin,
        **media,
        **video,
    )
