"""Every log line a message touches names it: correlation, causation, event, handler and queue."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from project.messaging.testing import TestBus
from project.observability.logging import logging_config
from tests.testapp.services import tally_ping

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines():
    """Capture log output rendered exactly as production renders it (LOG_FORMAT=json)."""
    config = logging_config(level="INFO", fmt="json")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.config.DictConfigurator(config).configure_custom(config["formatters"]["structured"]))
    lines: list[str] = []
    handler.stream = type("Sink", (), {"write": lambda self, s: lines.append(s), "flush": lambda self: None})()
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in "".join(lines).splitlines() if line.strip()]
    root.removeHandler(handler)


def test_a_handler_failure_is_logged_with_the_delivery_context(bus: TestBus, json_lines) -> None:
    tally_ping(key="GRUMPY", amount=1, behaviour="permanent")
    bus.drain()
    [line] = [entry for entry in json_lines() if entry["event"].startswith("Dead-lettering")]
    assert line["handler"] == "testapp.add_to_tally" and line["queue"] == "testapp"
    assert line["event_type"] == "testapp.Pinged" and line["attempt"] == 1
    assert line["event_id"] and line["correlation_id"] == line["event_id"]  # the first event of its chain
    assert "causation_id" in line and line["level"] == "error"


def test_a_request_logs_its_correlation_id_which_the_events_it_causes_carry(bus: TestBus, json_lines) -> None:
    from rest_framework.test import APIClient

    from tests.factories.orders import CustomerFactory, KnownProductFactory

    KnownProductFactory(sku="CRUNCHY-ARMCHAIR")
    client = APIClient()
    client.force_authenticate(CustomerFactory())
    logging.getLogger("tests").info("placing")  # outside a request: no correlation id
    correlation = "5b0f3c2e-8a4c-4d2e-9a59-6a1c2f0e9b11"
    response = client.post(
        "/api/orders/",
        {"lines": [{"sku": "CRUNCHY-ARMCHAIR", "quantity": 1, "unit_price": "1.00"}]},
        format="json",
        HTTP_X_CORRELATION_ID=correlation,
    )
    assert response["X-Correlation-ID"] == correlation
    bus.drain()  # inventory's handler runs, it logs nothing special; its replies carry the id
    from project.messaging.models import OutboxEvent
    from tests.messaging_rows import everywhere

    # orders' events and inventory's replies, each in its producer's database
    carried = {str(c) for events in everywhere(OutboxEvent) for c in events.values_list("correlation_id", flat=True)}
    assert carried == {correlation}
    assert Client().get("/health/live/").status_code == 200
