"""The sampler of project.observability.tracing (imported only when tracing is on)."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes


class DropOrphanClientSpans(Sampler):
    """The configured sampler (OTEL_TRACES_SAMPLER), except that a client span with no parent
    is not recorded.

    The relay's poll, the beat's checks and each connection's set-up run SQL and Redis commands
    outside any request or message; traced, each would be a one-span trace every second, burying
    the traces that tell a story. Inside a request, a task or a message's span they are kept.
    """

    def __init__(self, delegate: Sampler) -> None:
        self.delegate = delegate

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT and not trace.get_current_span(parent_context).get_span_context().is_valid:
            return SamplingResult(Decision.DROP)
        return self.delegate.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"DropOrphanClientSpans{{{self.delegate.get_description()}}}"
