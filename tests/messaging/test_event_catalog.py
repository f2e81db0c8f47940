"""The event catalog (docs/events.md, docs/asyncapi.yaml): up to date, complete, and true to the wire."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from django.conf import settings
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from project.messaging.contract.events import registered_types
from project.messaging.models import OutboxEvent
from project.messaging.operations.catalog import catalog_entries
from project.messaging.registry.databases import messaging_databases
from project.messaging.registry.routing import all_subscriptions
from project.messaging.testing import TestBus
from tests.factories.inventory import StockItemFactory
from tests.factories.orders import CustomerFactory, KnownProductFactory

DOCS = Path(settings.BASE_DIR) / "docs"


def domain_message_types() -> set[str]:
    return {name for name, cls in registered_types().items() if cls.producer() in settings.DOMAIN_APPS}


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    return yaml.safe_load((DOCS / "asyncapi.yaml").read_text())


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_the_committed_catalog_matches_the_code_and_leaves_test_only_messages_out(capsys) -> None:
    # The test settings install tests.testapp, whose messages are registered here but not documented.
    assert "testapp.Pinged" in registered_types()
    call_command("event_catalog", "--check")
    assert "up to date" in capsys.readouterr().out
    assert "testapp" not in (DOCS / "events.md").read_text() + (DOCS / "asyncapi.yaml").read_text()


def test_the_check_fails_with_the_command_to_run_when_an_event_changed_without_regenerating(
    tmp_path: Path, capsys
) -> None:
    call_command("event_catalog", "--docs-dir", str(tmp_path))
    stale = (tmp_path / "events.md").read_text().replace("| `order_id` | string (uuid) | yes |", "| `order_id` | int |")
    (tmp_path / "events.md").write_text(stale)
    with pytest.raises(CommandError, match=r"events.md does not match .* Run `python manage.py event_catalog`"):
        call_command("event_catalog", "--check", "--docs-dir", str(tmp_path))
    assert "+| `order_id` | string (uuid) | yes |" in capsys.readouterr().err


def test_the_markdown_catalog_has_a_section_per_message_with_its_consumers_and_fields() -> None:
    text = (DOCS / "events.md").read_text()
    for type_name in domain_message_types():
        assert f"\n### {type_name}\n" in text
    section = text.split("\n### inventory.ReserveStock\n", 1)[1].split("\n### ", 1)[0]
    assert "| `inventory.reserve_order_line` | `inventory` |" in section
    assert "| `quantity` | integer | yes | > 0 |" in section
    assert "<details>" in section and '"title": "ReserveStock"' in section


def test_the_asyncapi_document_parses_and_names_every_registered_domain_message(asyncapi: dict) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    assert set(asyncapi["components"]["messages"]) == domain_message_types()
    assert set(asyncapi["servers"]) == {"redis"}
    for sub in all_subscriptions():
        if sub.app_label not in settings.DOMAIN_APPS:
            continue
        channel = asyncapi["channels"][sub.queue]
        assert sub.event_type in channel["messages"], (sub.queue, sub.event_type)
        consumers = asyncapi["components"]["messages"][sub.event_type]["x-consumers"]
        assert {"handler": sub.handler_name, "queue": sub.queue} in consumers
    for ref in refs(asyncapi):
        assert resolve(asyncapi, ref) is not None, ref


@pytest.mark.django_db
def test_real_envelopes_match_the_documented_schemas(asyncapi: dict, bus: TestBus) -> None:
    """Place and confirm an order, register a user: every message that caused is valid against the docs."""
    KnownProductFactory(sku="CRUNCHY-ARMCHAIR")
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=5)
    customer = APIClient()
    customer.force_authenticate(CustomerFactory(username="alice"))
    lines = [{"sku": "CRUNCHY-ARMCHAIR", "quantity": 2, "unit_price": "10.00"}]
    assert customer.post("/api/orders/", {"lines": lines}, format="json").status_code == 201
    registration = {"username": "dora", "email": "dora@example.com", "password": "A-long-pass-phrase-42"}
    assert APIClient().post("/api/users/register/", registration, format="json").status_code == 201
    bus.drain()

    payload_schemas = {entry.type_name: entry.payload_schema() for entry in catalog_entries(apps=settings.DOMAIN_APPS)}
    seen = set()
    for event in (e for alias in messaging_databases() for e in OutboxEvent.objects.using(alias)):
        envelope = event.envelope().to_json()
        jsonschema.validate(envelope["payload"], payload_schemas[event.event_type])  # as in events.md
        # The AsyncAPI message's payload (an allOf of refs), resolved within the document itself.
        as_documented = {**asyncapi, "$ref": f"#/components/messages/{event.event_type}/payload"}
        jsonschema.Draft7Validator(as_documented).validate(envelope)
        seen.add(event.event_type)
    assert {"orders.OrderPlaced", "inventory.ReserveStock", "inventory.StockReserved", "orders.OrderConfirmed"} <= seen
    assert {"inventory.CommitStock", "inventory.StockCommitted", "users.UserRegistered"} <= seen


def test_a_wrong_payload_fails_the_documented_schema(asyncapi: dict) -> None:
    """The schema check above is not vacuous."""
    schema = {**asyncapi, "$ref": "#/components/schemas/inventory.ReserveStock"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate({"order_id": "x", "line_id": "y", "sku": "S", "quantity": 0})
