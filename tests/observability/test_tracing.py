"""Tracing: the trace context travels in the envelope, and publish, send and process join one trace.

In-process, with OpenTelemetry's in-memory exporter; tests/flows/test_tracing.py follows one order
through real worker processes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util._once import Once
from rest_framework.test import APIClient

from orders.models import OrderSaga
from orders.services import LineInput, order_place, order_sagas_expire_overdue
from project.messaging.contract import tracing
from project.messaging.contract.events import Envelope
from project.messaging.models import OutboxEvent
from project.messaging.operations.selectors import correlation_timeline
from project.messaging.outbox import relay
from project.messaging.testing import TestBus
from project.observability.logging import add_trace_ids
from project.observability.sampling import DropOrphanClientSpans
from project.observability.tracing import tracing_configured
from tests.factories.inventory import StockItemFactory
from tests.factories.orders import CustomerFactory, KnownProductFactory
from tests.observability.test_logging import json_lines  # noqa: F401 (the fixture)
from tests.testapp.services import tally_ping

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _reset_global_provider() -> None:
    # OpenTelemetry sets the global provider once per process; its own test utilities reset it so.
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process, every finished span kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _reset_global_provider()
    trace.set_tracer_provider(provider)
    tracing.set_tracing_on(True)
    yield exporter
    tracing.set_tracing_on(False)
    provider.shutdown()
    _reset_global_provider()


def named(exporter: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]


def envelope_json(**overrides: object) -> dict:
    data = {
        "event_id": str(uuid.uuid4()),
        "event_type": "testapp.Pinged",
        "schema_version": 1,
        "occurred_at": timezone.now().isoformat(),
        "producer": "testapp",
        "aggregate_type": "tally",
        "aggregate_id": "CRUNCHY-ARMCHAIR",
        "correlation_id": str(uuid.uuid4()),
        "payload": {"key": "CRUNCHY-ARMCHAIR", "amount": 1},
        **overrides,
    }
    return data


# --- The envelope --------------------------------------------------------------------------------


def test_an_envelope_with_a_trace_context_round_trips_through_json() -> None:
    context = {"traceparent": TRACEPARENT, "tracestate": "vendor=value"}
    envelope = Envelope.from_json(envelope_json(trace_context=context))
    again = Envelope.from_json(json.loads(json.dumps(envelope.to_json())))
    assert again == envelope and again.trace_context == context
    assert tracing.trace_id_of(again.trace_context) == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_an_envelope_written_before_trace_contexts_existed_still_decodes() -> None:
    older = envelope_json()  # no "trace_context" key at all
    envelope = Envelope.from_json(older)
    assert envelope.trace_context is None
    assert Envelope.from_json(envelope.to_json()) == envelope
    assert tracing.span_context_of(envelope.trace_context) is None and tracing.trace_id_of(None) == ""


def test_a_malformed_trace_context_is_ignored_not_fatal() -> None:
    envelope = Envelope.from_json(envelope_json(trace_context={"traceparent": "not-a-traceparent"}))
    assert tracing.span_context_of(envelope.trace_context) is None


# --- Off by default ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": " "}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_on_only_when_an_exporter_is_named(environ: dict[str, str], on: bool) -> None:
    assert tracing_configured(environ) is on


@pytest.mark.django_db
def test_with_tracing_off_nothing_is_traced_and_no_context_is_stored(bus: TestBus) -> None:
    assert not tracing.tracing_on()
    tally_ping(key="CRUNCHY-ARMCHAIR")
    bus.drain()
    assert list(OutboxEvent.objects.values_list("trace_context", flat=True)) == [None, None]  # Pinged, Ponged


# --- On: one trace from the publisher to the handler ---------------------------------------------


@pytest.mark.django_db
def test_the_publish_span_context_is_stored_with_the_event_and_the_handler_span_is_its_child(
    spans: InMemorySpanExporter, bus: TestBus
) -> None:
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("POST /api/tallies/") as request:
        tally_ping(key="CRUNCHY-ARMCHAIR")
    event = OutboxEvent.objects.get(event_type="testapp.Pinged")
    [publish] = named(spans, "publish testapp.Pinged")
    assert publish.kind is SpanKind.PRODUCER and publish.parent.span_id == request.get_span_context().span_id
    assert publish.attributes["messaging.system"] == "outbox"
    assert publish.attributes["messaging.operation.name"] == "publish"
    assert publish.attributes["messaging.destination.name"] == "testapp.Pinged"
    assert publish.attributes["messaging.message.id"] == str(event.event_id)
    assert tracing.span_context_of(event.trace_context).span_id == publish.context.span_id

    bus.drain()  # some time later, in no span at all (as a worker would be)
    [process] = named(spans, "process testapp.add_to_tally")
    assert process.kind is SpanKind.CONSUMER
    assert process.context.trace_id == request.get_span_context().trace_id
    assert process.parent.span_id == publish.context.span_id
    assert process.attributes["messaging.message.id"] == str(event.event_id)
    assert process.attributes["messaging.destination.name"] == "testapp"
    assert (process.attributes["messaging.outcome"], process.attributes["messaging.duplicate"]) == ("processed", False)
    # The handler published Ponged: its publish span is a child of the process span.
    [reply] = named(spans, "publish testapp.Ponged")
    assert reply.parent.span_id == process.context.span_id and reply.context.trace_id == process.context.trace_id


@pytest.mark.django_db
def test_a_duplicate_delivery_is_a_span_that_says_it_applied_nothing(spans: InMemorySpanExporter, bus: TestBus) -> None:
    tally_ping(key="SHINY-LAMP")
    attempt = bus.take_pending()[0]
    bus.deliver(attempt)
    bus.deliver(attempt)
    first, second = named(spans, "process testapp.add_to_tally")
    assert (first.attributes["messaging.outcome"], first.attributes["messaging.duplicate"]) == ("processed", False)
    assert (second.attributes["messaging.outcome"], second.attributes["messaging.duplicate"]) == ("duplicate", True)
    assert first.context.trace_id == second.context.trace_id


@pytest.mark.django_db
def test_a_retry_is_a_new_span_linked_to_the_publish_span(spans: InMemorySpanExporter, bus: TestBus) -> None:
    tally_ping(key="FLAKY-CHAIR", behaviour="transient:1")
    bus.drain()
    [publish] = named(spans, "publish testapp.Pinged")
    first, retry = named(spans, "process testapp.add_to_tally")
    assert first.parent.span_id == publish.context.span_id and first.attributes["messaging.outcome"] == "retry"
    assert not first.status.is_ok
    assert retry.attributes["messaging.redelivered"] is True and retry.attributes["messaging.outcome"] == "processed"
    assert retry.parent is None or retry.parent.span_id != publish.context.span_id
    assert [link.context.span_id for link in retry.links] == [publish.context.span_id]


@pytest.mark.django_db
def test_the_send_span_is_a_child_of_the_publish_span_whoever_sends_it_later(
    spans: InMemorySpanExporter, bus: TestBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    with override_settings(MESSAGING_SEND_ON_COMMIT=False):
        tally_ping(key="WOBBLY-TABLE")
    [publish] = named(spans, "publish testapp.Pinged")
    monkeypatch.setattr(relay, "_send_one", lambda *args: None)  # no broker needed: the span is the point
    with trace.get_tracer("tests").start_as_current_span("relay pass") as relay_pass:
        assert relay.relay_pending() == 1
    [send] = named(spans, "send testapp")
    assert send.kind is SpanKind.PRODUCER and send.parent.span_id == publish.context.span_id
    assert send.attributes["messaging.operation.name"] == "send"
    assert send.attributes["messaging.consumer.group.name"] == "testapp.add_to_tally"
    assert [link.context.span_id for link in send.links] == [relay_pass.get_span_context().span_id]


@pytest.mark.django_db
def test_the_timeline_shows_the_trace_id_of_each_entry(spans: InMemorySpanExporter, bus: TestBus) -> None:
    with trace.get_tracer("tests").start_as_current_span("request") as request:
        tally_ping(key="CRUNCHY-ARMCHAIR")
    bus.drain()
    trace_id = trace.format_trace_id(request.get_span_context().trace_id)
    event = OutboxEvent.objects.get(event_type="testapp.Pinged")
    entries = correlation_timeline(event.correlation_id)
    assert {e.kind for e in entries} >= {"event", "delivery", "inbox"}
    assert {e.trace_id for e in entries} == {trace_id}


def test_log_lines_inside_a_span_carry_its_trace_and_span_ids(spans: InMemorySpanExporter) -> None:
    assert add_trace_ids(None, "info", {"event": "outside"}) == {"event": "outside"}
    with trace.get_tracer("tests").start_as_current_span("work") as span:
        line = add_trace_ids(None, "info", {"event": "inside"})
    context = span.get_span_context()
    assert line["trace_id"] == f"{context.trace_id:032x}" and line["span_id"] == f"{context.span_id:016x}"


def test_sql_run_outside_any_span_is_not_a_trace_of_its_own() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision

    sampler = DropOrphanClientSpans(ALWAYS_ON)
    assert sampler.should_sample(None, 1, "SELECT", kind=SpanKind.CLIENT).decision is Decision.DROP
    assert sampler.should_sample(None, 1, "POST", kind=SpanKind.SERVER).decision is Decision.RECORD_AND_SAMPLE
    provider = TracerProvider()
    with provider.get_tracer("tests").start_as_current_span("request"):
        parent = trace.set_span_in_context(trace.get_current_span())
        assert sampler.should_sample(parent, 1, "SELECT", kind=SpanKind.CLIENT).decision is Decision.RECORD_AND_SAMPLE


@pytest.mark.django_db
def test_a_log_line_written_by_a_handler_names_its_trace(
    spans: InMemorySpanExporter,
    bus: TestBus,
    json_lines,  # noqa: F811 (the fixture imported from test_logging)
) -> None:
    tally_ping(key="GRUMPY", behaviour="permanent")
    bus.drain()
    [process] = named(spans, "process testapp.add_to_tally")
    assert process.attributes["messaging.outcome"] == "dead_lettered" and not process.status.is_ok
    [line] = [entry for entry in json_lines() if entry["event"].startswith("Dead-lettering")]
    assert line["trace_id"] == f"{process.context.trace_id:032x}"
    assert line["span_id"] == f"{process.context.span_id:016x}"


@pytest.mark.django_db
def test_what_the_deadline_sweep_publishes_for_an_order_links_to_the_trace_it_was_placed_in(
    spans: InMemorySpanExporter, bus: TestBus
) -> None:
    KnownProductFactory(sku="CRUNCHY-ARMCHAIR")
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("POST /api/orders/"):
        order = order_place(customer_id=42, lines=[LineInput("CRUNCHY-ARMCHAIR", 1, Decimal("10.00"))]).order
    [placed] = named(spans, "publish orders.OrderPlaced")
    OrderSaga.objects.filter(pk=order.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
    with tracer.start_as_current_span("run/orders.expire_overdue_sagas") as beat_task:
        assert order_sagas_expire_overdue() == 1
    [release] = named(spans, "publish inventory.ReleaseStock")  # the compensation
    # Its own trace (the beat's task), linked to the order's: the backend leads from one to the other.
    assert release.context.trace_id == beat_task.get_span_context().trace_id != placed.context.trace_id
    assert [(link.context.span_id, link.attributes["messaging.link"]) for link in release.links] == [
        (placed.context.span_id, "origin")
    ]


@pytest.mark.django_db
def test_the_order_timeline_in_the_admin_and_the_api_shows_each_entrys_trace_id(
    spans: InMemorySpanExporter, bus: TestBus, admin_client, settings
) -> None:
    settings.TRACING_TRACE_URL = "http://jaeger.example:16686/trace/{trace_id}"
    KnownProductFactory(sku="CRUNCHY-ARMCHAIR")
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=5)
    customer = CustomerFactory(username="tracy")
    with trace.get_tracer("tests").start_as_current_span("POST /api/orders/") as request:
        order = order_place(customer_id=customer.pk, lines=[LineInput("CRUNCHY-ARMCHAIR", 1, Decimal("10.00"))]).order
    bus.drain()
    trace_id = trace.format_trace_id(request.get_span_context().trace_id)

    api = APIClient()
    api.force_authenticate(customer)
    events = api.get(f"/api/orders/{order.pk}/timeline/").json()["events"]
    assert events and {e["trace_id"] for e in events} == {trace_id}  # a customer sees the events

    page = admin_client.get(f"/admin/orders/order/{order.pk}/timeline/").content.decode()
    assert f'href="http://jaeger.example:16686/trace/{trace_id}"' in page


def test_otlp_names_the_http_exporter_with_the_standard_endpoint_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    from project.observability.tracing import _exporters

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp, console")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4318")
    otlp, console = _exporters()
    assert isinstance(otlp, OTLPSpanExporter) and isinstance(console, ConsoleSpanExporter)
    assert otlp._endpoint == "http://jaeger:4318/v1/traces"
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(RuntimeError, match="no such span exporter is installed"):
        _exporters()


@pytest.mark.django_db
def test_an_operators_replay_of_a_dead_letter_is_a_new_span_linked_to_the_original(
    spans: InMemorySpanExporter, bus: TestBus
) -> None:
    from project.messaging.models import DeadLetter
    from project.messaging.operations.services import dead_letter_replay

    tally_ping(key="GRUMPY-LATER", behaviour="permanent")
    bus.drain()
    [publish] = named(spans, "publish testapp.Pinged")
    letter = DeadLetter.objects.get()
    with trace.get_tracer("tests").start_as_current_span("POST /admin/.../replay/") as admin_request:
        dead_letter_replay(dead_letter_id=letter.pk, inline=True)
    first, replay = named(spans, "process testapp.add_to_tally")
    assert first.parent.span_id == publish.context.span_id
    assert replay.parent.span_id == admin_request.get_span_context().span_id
    assert replay.attributes["messaging.redelivered"] is True
    assert [(link.context.span_id, link.attributes["messaging.link"]) for link in replay.links] == [
        (publish.context.span_id, "original")
    ]
