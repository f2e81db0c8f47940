"""One trace from the HTTP request to the email, through real worker processes and the outbox.

Every process (this one, which serves the request through Django's test client, and one worker
per queue) traces with the console exporter writing one JSON object per span to a file of its own
(TRACING_CONSOLE_FILE); the test reads them all back and checks the trace's shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from inventory.services import stock_item_create
from notifications.models import Notification, Recipient
from orders.models import KnownProduct, Order
from project.messaging.outbox.relay import delivery_message, send_messages
from project.observability import tracing
from tests.brokers import BrokerQueues
from tests.conftest import WorkerProcess, wait_until
from tests.messaging_rows import deliveries
from tests.notifications.helpers import register

pytestmark = [pytest.mark.flows, pytest.mark.django_db(transaction=True)]

QUEUES = ("orders", "inventory", "notifications")


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    kind: str
    service: str
    attributes: dict[str, Any]
    links: list[str]
    start: str
    children: list[Span] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Span:
        return cls(
            name=data["name"],
            trace_id=data["context"]["trace_id"],
            span_id=data["context"]["span_id"],
            parent_id=data["parent_id"],
            kind=data["kind"],
            service=data["resource"]["attributes"]["service.name"],
            attributes=data["attributes"],
            links=[link["context"]["span_id"] for link in data["links"]],
            start=data["start_time"],
        )


def read_spans(folder: Path) -> list[Span]:
    spans = []
    for path in sorted(folder.glob("spans-*.jsonl")):
        spans += [Span.from_json(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
    return spans


def tree(root: Span, spans: list[Span], *, keep: Callable[[Span], bool]) -> str:
    """The trace as an indented tree (messaging and HTTP spans only: SQL and Redis left out)."""
    by_parent: dict[str, list[Span]] = {}
    for span in spans:
        if span.parent_id:
            by_parent.setdefault(span.parent_id, []).append(span)
    lines: list[str] = []

    def walk(span: Span, depth: int) -> None:
        shown = keep(span)
        if shown:
            outcome = span.attributes.get("messaging.outcome")
            lines.append(f"{'  ' * depth}{span.name}  [{span.service}]" + (f"  ({outcome})" if outcome else ""))
        for child in sorted(by_parent.get(span.span_id, []), key=lambda s: s.start):
            walk(child, depth + 1 if shown else depth)

    walk(root, 0)
    return "\n".join(lines)


@pytest.fixture
def traced(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    worker_factory: Callable[..., WorkerProcess],
    clean_queues: BrokerQueues,
) -> Iterator[Path]:
    """Tracing on in this process and in one worker per queue, each writing its spans to a file."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("TRACING_CONSOLE_FILE", str(tmp_path / "spans-test.jsonl"))
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    started = [
        worker_factory(
            [queue],
            env={"OTEL_TRACES_EXPORTER": "console", "TRACING_CONSOLE_FILE": str(tmp_path / f"spans-{queue}.jsonl")},
            wait=False,
        )
        for queue in QUEUES
    ]
    for worker in started:
        worker.wait_ready()
    assert tracing.setup_tracing("test")
    try:
        yield tmp_path
    finally:
        tracing.uninstrument_for_tests()


def test_one_order_with_a_refused_line_is_one_trace_from_the_request_to_the_email(traced: Path) -> None:
    customer = register("dora")
    wait_until(lambda: Recipient.objects.filter(user_id=customer.user_id).exists(), what="notifications to know dora")
    for sku, on_hand in (("CRUNCHY-ARMCHAIR", 10), ("RARE-VASE", 1)):
        stock_item_create(sku=sku, name=sku.title(), on_hand=on_hand)
    wait_until(lambda: KnownProduct.objects.count() == 2, what="orders to learn of the products")

    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(pk=customer.user_id))
    lines = [
        {"sku": "CRUNCHY-ARMCHAIR", "quantity": 2, "unit_price": "10.00"},
        {"sku": "RARE-VASE", "quantity": 5, "unit_price": "80.00"},  # one on the shelf: refused
    ]
    response = client.post("/api/orders/", {"lines": lines}, format="json")
    assert response.status_code == 201, response.content
    order_id = response.json()["id"]
    wait_until(lambda: Order.objects.filter(pk=order_id, status=Order.Status.FAILED).exists(), what="the order to fail")
    wait_until(
        lambda: Notification.objects.filter(user_id=customer.user_id, status="sent").exists(),
        what="the failure email",
    )

    def handled(spans: list[Span], handler: str) -> list[Span]:
        return [s for s in spans if s.name == f"process {handler}"]

    # The email's span is written once its handler's transaction has committed.
    spans = wait_until(
        lambda: (found := read_spans(traced)) and handled(found, "notifications.tell_customer_order_failed") and found,
        what="the notification's span",
    )
    [request] = [s for s in spans if s.kind == "SpanKind.SERVER" and s.name.startswith("POST")]
    trace = [s for s in spans if s.trace_id == request.trace_id]
    by_id = {s.span_id: s for s in trace}

    # One trace, connected: every span's parent is a span of the trace, up to the request.
    assert request.parent_id is None
    assert all(s.parent_id in by_id for s in trace if s is not request)
    assert {s.service for s in trace} == {"shop-test", "shop-worker-orders", "shop-worker-inventory"} | {
        "shop-worker-notifications"
    }

    published = {s.attributes["messaging.message.id"]: s for s in trace if s.name.startswith("publish ")}
    processed = [s for s in trace if s.name.startswith("process ")]
    names = sorted(s.name for s in published.values()) + sorted(s.name for s in processed)
    assert names == [
        "publish inventory.ReleaseStock",
        "publish inventory.ReserveStock",
        "publish inventory.ReserveStock",
        "publish inventory.StockReleased",
        "publish inventory.StockReservationFailed",
        "publish inventory.StockReserved",
        "publish orders.OrderFailed",
        "publish orders.OrderPlaced",
        "process inventory.release_order_line",  # the compensation
        "process inventory.reserve_order_line",
        "process inventory.reserve_order_line",
        "process notifications.tell_customer_order_failed",  # the email
        "process orders.advance_saga_on_stock_refused",
        "process orders.advance_saga_on_stock_released",
        "process orders.advance_saga_on_stock_reserved",
    ]
    # The request published the first messages; each handler's span is a child of the publish
    # span of the message it handled (not of the relay's or Celery's), and publishes the next.
    assert by_id[published_one(published, "publish orders.OrderPlaced").parent_id] is request
    for span in processed:
        origin = published[span.attributes["messaging.message.id"]]
        assert span.parent_id == origin.span_id, span.name
        assert span.attributes["messaging.destination.name"] == span.name.split()[1].split(".")[0]
        assert (span.attributes["messaging.outcome"], span.attributes["messaging.duplicate"]) == ("processed", False)
    # The handler's own database work is under its span (the inbox insert, its reads and writes).
    statements = [s for s in trace if s.kind == "SpanKind.CLIENT" and "db.system" in str(s.attributes)]
    for span in processed:
        assert any(s.parent_id == span.span_id for s in statements), f"no SQL under {span.name}"
    for span in published.values():
        assert by_id[span.parent_id] is request or by_id[span.parent_id].name.startswith("process "), span.name
    # Every message was handed to the broker in a send span under its publish span.
    sends = [s for s in trace if s.name.startswith("send ")]
    assert all(by_id[s.parent_id].name.startswith("publish ") for s in sends)
    sent = {by_id[s.parent_id].attributes["messaging.message.id"] for s in sends}
    assert {s.attributes["messaging.message.id"] for s in processed} <= sent

    # A duplicate delivery of the first ReserveStock: a span of the same trace that says it applied nothing.
    reserve = next(s for s in processed if s.name == "process inventory.reserve_order_line")
    message_id = reserve.attributes["messaging.message.id"]
    delivery = deliveries("orders").select_related("event").get(event_id=message_id)  # ReserveStock: orders'
    send_messages([(delivery.queue, delivery_message(delivery))])
    again = wait_until(
        lambda: [
            s
            for s in handled(read_spans(traced), "inventory.reserve_order_line")
            if s.attributes["messaging.message.id"] == message_id and s.attributes["messaging.duplicate"]
        ],
        what="the duplicate's span",
    )
    assert [(s.trace_id, s.attributes["messaging.outcome"]) for s in again] == [(request.trace_id, "duplicate")]
    applied = [
        s
        for s in handled(read_spans(traced), "inventory.reserve_order_line")
        if s.attributes["messaging.message.id"] == message_id and s.attributes["messaging.outcome"] == "processed"
    ]
    assert len(applied) == 1

    drawing = tree(
        request,
        read_spans(traced),
        keep=lambda s: s.name.split()[0] in ("POST", "publish", "send", "process"),
    )
    artifacts = Path(settings.BASE_DIR) / "var" / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "order-trace.txt").write_text(drawing + "\n")
    print(drawing)


def published_one(published: dict[str, Span], name: str) -> Span:
    [span] = [s for s in published.values() if s.name == name]
    return span
