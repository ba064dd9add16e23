"""The ComfyUI nodes: a generation node per endpoint row (one class, built from the rows) and Fetch Result."""

from __future__ import annotations

from ..avatar.endpoints import GENERATION_ENDPOINTS, EndpointSpec
from ..avatar.plan import check_params
from ..errors import FalAvatarError, InputError, JobCancelledError
from ..longform.fetch import fetch_run
from ..longform.run import AvatarRun, materialize_run, run_avatar
from ..pipeline.interrupt import UserInterrupt, run_cancellable
from ..pipeline.result_extras import describe_jobs
from ..services import build_services
from ..states import Phase
from . import api, queue_ahead, schema
from .conversions import node_output
from .graph import output_is_linked
from .node_request import node_request
from .reporter import ComfyReporter

io = api.io


async def _deliver(reporter: ComfyReporter, start, interrupt: UserInterrupt, *, want_frames: bool):
    """The node's entry point: build its services, await ``start(services)`` (giving an AvatarRun) with Cancel
    support, decode, build the outputs."""

    def frames_progress(done: int, total: int) -> None:
        if reporter.should_cancel():
            raise JobCancelledError("Cancelled by the user while decoding frames.")
        reporter.update(Phase.DECODING, detail=f"frame {done}/{total}", progress=done / max(total, 1))

    try:
        services = build_services()
        result: AvatarRun = await run_cancellable(start(services), interrupt)
        outputs = await run_cancellable(
            materialize_run(
                result, want_frames=want_frames, on_frames=frames_progress, services=services, sink=reporter
            ),
            interrupt,
        )
    except JobCancelledError:
        reporter.finish(
            Phase.CANCELLED,
            "fal jobs still running were cancelled; finished results are kept (the next run takes them)",
        )
        raise api.interrupt_exception_type()() from None
    except FalAvatarError as exc:
        reporter.finish(Phase.ERROR, str(exc))
        raise
    info = outputs.info
    parts = [f"{outputs.frame_count} frames", f"{info.fps:g} fps", f"{info.width}×{info.height}"]
    # the request_id output (a long run's whole segment list) is what the status area shows and copies
    ids = {"request_id": result.request_id}
    if len(result.request_ids) > 1:
        parts.append(f"{len(result.request_ids)} segments")
        ids["frames"] = outputs.frame_count
    fal_says = describe_jobs(result.extras)
    if fal_says:
        parts.append(f"fal: {fal_says}")
    if result.reused:
        parts.append("reused, no new charge")
    if not want_frames:
        parts.append("frames not decoded (output not connected)")
    parts.extend(f"note: {warning}" for warning in result.warnings)
    reporter.finish(Phase.DONE, " · ".join(parts), cost_usd=result.paid_usd, **ids)
    return node_output(outputs)


def _frames_linked(node) -> bool:
    """ComfyUI's cache fingerprint of a node with a ``frames`` output (with its inputs it decides whether
    the cached outputs are reused): whether that output is connected in the running prompt. The frames are
    decoded only when it is, so connecting it after a run must run the node again (the pack reuses the
    stored result for free) rather than reuse the cached empty batch. Constant when the prompt is unknown."""
    return output_is_linked(api.running_prompt(), node.hidden.unique_id, schema.FRAMES_OUTPUT)


class AvatarGenerationNode(io.ComfyNode):
    """Shared behaviour of the generation nodes; ``SPEC`` (an endpoint row) makes each one."""

    SPEC: EndpointSpec

    @classmethod
    def define_schema(cls):
        spec = cls.SPEC
        extra = {}
        badge = schema.price_badge(spec) if api.supports_schema_field("price_badge") else None
        if badge is not None:
            extra["price_badge"] = badge
        if api.supports_schema_field("search_aliases"):
            extra["search_aliases"] = list(spec.search_aliases)
        description = spec.description
        if spec.status == "delisted":
            # still loadable, so saved workflows open; ComfyUI marks it and keeps it out of the node search
            if api.supports_schema_field("is_deprecated"):
                extra["is_deprecated"] = True
            description = f"{description} Delisted: {spec.status_note}."
        return io.Schema(
            node_id=spec.node_id,
            display_name=spec.display_name,
            category=schema.category(spec),
            description=description,
            inputs=schema.inputs(spec),
            outputs=schema.outputs(),
            hidden=[io.Hidden.unique_id, io.Hidden.prompt],
            is_output_node=True,
            **extra,
        )

    @classmethod
    def validate_inputs(cls, **kwargs) -> bool | str:
        """Refuse bad widget values before the prompt starts (nothing is uploaded or paid)."""
        names = {p.name for p in cls.SPEC.params}
        values = {k: v for k, v in kwargs.items() if k in names and v is not None}
        try:
            check_params(cls.SPEC, values)
        except InputError as exc:
            return str(exc)
        return True

    @classmethod
    def fingerprint_inputs(cls, **kwargs) -> bool:
        return _frames_linked(cls)

    @classmethod
    async def execute(cls, **kwargs):
        node_id = cls.hidden.unique_id
        request = node_request(cls.SPEC, kwargs, cls.hidden.prompt, node_id)
        reporter = ComfyReporter(node_id)
        early_note = queue_ahead.note_for(api.running_prompt_id(), node_id, cls.hidden.prompt)
        if early_note:
            reporter.update(Phase.VALIDATING, detail=early_note)
        interrupt = UserInterrupt(reporter.should_cancel)
        return await _deliver(
            reporter,
            lambda services: run_avatar(request, services=services, sink=reporter, interrupt=interrupt),
            interrupt,
            want_frames=request.want_frames,
        )


def make_generation_node(spec: EndpointSpec) -> type[AvatarGenerationNode]:
    return type(spec.node_id, (AvatarGenerationNode,), {"SPEC": spec, "__doc__": spec.description})


class FalAvatarFetchResult(io.ComfyNode):
    """Recover a finished request's result by id, without paying again."""

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="FalAvatarFetchResult",
            display_name="fal Avatar: Fetch Result",
            category=schema.CATEGORY,
            description="Fetch the result of an earlier fal request (any of the avatar endpoints) by its "
            "request id: from the local store, or from fal (kept about an hour). Costs nothing.",
            inputs=[
                io.String.Input(
                    "request_id",
                    default="",
                    tooltip="The request_id a generation node showed (for a long video, its whole segment "
                    "list).",
                ),
                io.Combo.Input(
                    "endpoint",
                    options=[s.endpoint_id for s in GENERATION_ENDPOINTS],
                    default=GENERATION_ENDPOINTS[0].endpoint_id,
                    tooltip="The endpoint the request was submitted to.",
                ),
            ],
            outputs=schema.outputs(),
            hidden=[io.Hidden.unique_id, io.Hidden.prompt],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, request_id=None, **kwargs) -> bool | str:
        if request_id is not None and not str(request_id).strip():
            return "request_id: is empty; paste the request id shown by the generation node"
        return True

    @classmethod
    def fingerprint_inputs(cls, **kwargs) -> bool:
        return _frames_linked(cls)

    @classmethod
    async def execute(cls, request_id: str, endpoint: str):
        node_id = cls.hidden.unique_id
        reporter = ComfyReporter(node_id)
        want = output_is_linked(cls.hidden.prompt, node_id, schema.FRAMES_OUTPUT)
        interrupt = UserInterrupt(reporter.should_cancel)
        return await _deliver(
            reporter,
            lambda services: fetch_run(endpoint, request_id, services=services, sink=reporter),
            interrupt,
            want_frames=want,
        )


NODES = [make_generation_node(spec) for spec in GENERATION_ENDPOINTS] + [FalAvatarFetchResult]
