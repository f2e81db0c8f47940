"""The trace context a message travels with, and the messaging spans (OpenTelemetry's API only).

A message carries the W3C trace context (``traceparent``, ``tracestate``) of the span that
published it, in its envelope: it is stored with the outbox row, so the relay, the sweep, a
re-send after a broker loss and a replay from a dead letter all start from the same context,
and the consumer's span joins the trace of the request (or handler) that published the message,
whichever process sends it and however late. The spans follow OpenTelemetry's messaging
semantic conventions: ``publish`` (the row written in the producer's transaction, operation type
``create``), ``send`` (handed to the broker by the relay or after commit) and ``process`` (a
handler applying it), each with ``messaging.system``, ``messaging.destination.name`` and
``messaging.message.id`` (the event id).

Off by default: until project.observability.tracing installs an SDK tracer provider (the
OTEL_TRACES_EXPORTER environment variable) and says so (``set_tracing_on``), ``tracing_on()`` is
False and the callers skip everything here, so no span is created and no trace context is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, ProxyTracerProvider, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TraceContext = dict[str, str]

MESSAGING_SYSTEM = "outbox"  # this project's outbox/inbox messaging, over Celery and its broker
# The envelope always carries W3C trace context, whatever OTEL_PROPAGATORS says for HTTP.
_propagator = TraceContextTextMapPropagator()
_on = False
_tracer_of: tuple[object, trace.Tracer] | None = None  # (the provider, its tracer for these spans)


def tracing_on() -> bool:
    """Whether this process traces (project.observability.tracing installed a tracer provider).

    A module flag rather than a question to OpenTelemetry's API (a lookup in os.environ and a
    type check, about a microsecond): it is asked for every message published, sent and handled.
    """
    return _on


def set_tracing_on(on: bool) -> None:
    """Called by whoever installs (or, in tests, removes) the SDK's tracer provider."""
    global _on
    _on = on and not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)


def _tracer() -> trace.Tracer:
    # The installed provider's own tracer, asked again only if the provider changes (tests do).
    global _tracer_of
    provider = trace.get_tracer_provider()
    if _tracer_of is None or _tracer_of[0] is not provider:
        _tracer_of = (provider, provider.get_tracer("project.messaging"))
    return _tracer_of[1]


def inject(span: Span | None = None) -> TraceContext | None:
    """The W3C trace context of ``span`` (default: the current span), or None if there is none."""
    ctx = trace.set_span_in_context(span) if span is not None else None
    carrier: TraceContext = {}
    _propagator.inject(carrier, context=ctx)
    return carrier or None


def span_context_of(trace_context: Mapping[str, Any] | None) -> SpanContext | None:
    """The remote span a stored trace context names (None if absent or malformed)."""
    if not isinstance(trace_context, Mapping):
        return None
    ctx = _propagator.extract({str(k): str(v) for k, v in trace_context.items()})
    span_context = trace.get_current_span(ctx).get_span_context()
    return span_context if span_context.is_valid else None


def trace_id_of(trace_context: Mapping[str, Any] | None) -> str:
    """The trace id (32 hex digits) of a stored trace context, or "" (for timelines and logs)."""
    span_context = span_context_of(trace_context)
    return trace.format_trace_id(span_context.trace_id) if span_context is not None else ""


def _attributes(operation: str, operation_type: str, destination: str, message_id: str) -> dict[str, Any]:
    return {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.name": operation,
        "messaging.operation.type": operation_type,
        "messaging.destination.name": destination,
        "messaging.message.id": message_id,
    }


def start_publish_span(*, event_type: str, event_id: str, correlation_id: str, origin: SpanContext | None) -> Span:
    """A span for one message written to the outbox, child of the current span (not current itself).

    ``origin``: the span an earlier chain of this aggregate started under (e.g. the request
    that placed an order, when the beat compensates it after its deadline), linked.
    """
    return _tracer().start_span(
        f"publish {event_type}",
        kind=SpanKind.PRODUCER,
        attributes={
            **_attributes("publish", "create", event_type, event_id),
            "messaging.message.conversation_id": correlation_id,
        },
        links=[Link(origin, {"messaging.link": "origin"})] if origin is not None else None,
    )


@contextmanager
def send_span(*, queue: str, envelope: Mapping[str, Any], handler: str, delivery_id: Any) -> Iterator[None]:
    """The span of handing one delivery to the broker: a child of the message's publish span
    (from its envelope), not of whatever the sending process is doing (the relay's loop, the
    request that committed), so that a late re-send still lands in the message's trace."""
    parent = span_context_of(envelope.get("trace_context"))
    current = trace.get_current_span().get_span_context()
    links = [Link(current)] if current.is_valid and (parent is None or current.trace_id != parent.trace_id) else None
    ctx = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent is not None else None
    attributes = _attributes("send", "send", queue, str(envelope.get("event_id", "")))
    attributes["messaging.consumer.group.name"] = handler
    if delivery_id is not None:
        attributes["messaging.delivery.id"] = delivery_id
    with _tracer().start_as_current_span(
        f"send {queue}", context=ctx, kind=SpanKind.PRODUCER, attributes=attributes, links=links
    ):
        yield


@contextmanager
def process_span(*, queue: str, handler: str, envelope: Mapping[str, Any], redelivered: bool) -> Iterator[Span]:
    """The current span while a handler applies a delivery (its database work nests under it).

    A first delivery is a child of the message's publish span, however it came (after commit,
    from the relay, re-sent by the sweep), so the chain is one trace; the transport's own span
    (Celery's ``run``) is linked. A ``redelivered`` one (a retry after a transient fault, an
    operator's replay of a dead letter) is a new span under whatever runs it, linked to the
    publish span: its trace shows the original, and the original's trace keeps its first story.
    """
    origin = span_context_of(envelope.get("trace_context"))
    current = trace.get_current_span().get_span_context()
    links: list[Link] = []
    ctx: otel_context.Context | None = None
    if origin is not None and not redelivered:
        ctx = trace.set_span_in_context(trace.NonRecordingSpan(origin))
        if current.is_valid:
            links.append(Link(current, {"messaging.link": "transport"}))
    elif origin is not None:
        links.append(Link(origin, {"messaging.link": "original"}))
    attributes = _attributes("process", "process", queue, str(envelope.get("event_id", "")))
    attributes["messaging.consumer.group.name"] = handler
    attributes["messaging.message.conversation_id"] = str(envelope.get("correlation_id", ""))
    attributes["messaging.event_type"] = str(envelope.get("event_type", ""))
    attributes["messaging.redelivered"] = redelivered
    with _tracer().start_as_current_span(
        f"process {handler}", context=ctx, kind=SpanKind.CONSUMER, attributes=attributes, links=links
    ) as span:
        yield span


def record_outcome(span: Span, outcome: str, *, duplicate: bool, failed: bool, error: str) -> None:
    """What came of a process span: ``messaging.outcome`` (processed, duplicate, retry,
    dead_lettered); a duplicate is marked ``messaging.duplicate`` (it applied nothing), a failure
    is an error status."""
    span.set_attribute("messaging.outcome", outcome)
    span.set_attribute("messaging.duplicate", duplicate)
    if failed:
        span.set_status(Status(StatusCode.ERROR, error[:500]))


def end_spans(spans: Sequence[Span]) -> None:
    for span in spans:
        span.end()
