"""What RabbitMQ asks of the messaging layer, through real workers in the run's own vhost
(bin/test with CELERY_BROKER_URL=amqp://...): queues declared before the first publish, publisher
confirms and returns, a connection loss mid-stream, and the broker's own view in /metrics.

Marked ``rabbitmq``: deselected when the run's broker is Redis (tests/conftest.py says so at the
end of the run); CI runs them in its RabbitMQ step. Every other flow test runs on both brokers.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from inventory.services import stock_item_create
from orders.models import Order
from orders.services import LineInput, order_place
from project.messaging import broker, metrics
from project.messaging.models import Delivery, InboxRecord
from project.messaging.outbox.relay import relay_pending, send_messages
from tests.brokers import RabbitQueues, rabbitmqctl
from tests.conftest import wait_until
from tests.flows.test_order_saga import final_order
from tests.testapp.models import Tally
from tests.testapp.services import tally_ping

pytestmark = [pytest.mark.flows, pytest.mark.rabbitmq, pytest.mark.django_db(transaction=True)]


def tally(key: str) -> int:
    row = Tally.objects.filter(key=key).first()
    return row.count if row else 0


@pytest.fixture
def fresh_vhost(clean_queues: RabbitQueues, settings) -> RabbitQueues:
    """The vhost as a first start finds it: no queue at all, and no process has declared any."""
    for name in settings.MESSAGING_QUEUES:
        clean_queues.delete_queue(name)
    broker.forget_declared_queues()
    assert all(state is None for state in broker.queue_states(clean_queues.url, settings.MESSAGING_QUEUES).values())
    return clean_queues


def queue_types(vhost: str) -> dict[str, tuple[str, str]]:
    out = rabbitmqctl("list_queues", "-p", vhost, "--quiet", "--no-table-headers", "name", "type", "durable")
    return {name: (kind, durable) for name, kind, durable in (line.split() for line in out.splitlines() if line)}


def test_events_published_before_any_worker_started_wait_in_durable_quorum_queues_and_are_all_handled(
    fresh_vhost: RabbitQueues, worker_factory, settings
) -> None:
    # What bin/run's seed does before the workers are up: inventory announces its products, and
    # nothing consumes yet. The first publish declares every routable queue, so they wait.
    for sku in ("CRUNCHY-ARMCHAIR", "SHINY-LAMP"):
        stock_item_create(sku=sku, name=sku.title(), on_hand=10)
    for i in range(20):
        tally_ping(key=f"EARLY-{i}", amount=i + 1)
    types = queue_types(fresh_vhost.vhost)
    assert {name: types.get(name) for name in settings.MESSAGING_QUEUES} == dict.fromkeys(
        settings.MESSAGING_QUEUES, ("quorum", "true")
    )
    assert fresh_vhost.ready("testapp") == 20 and fresh_vhost.ready("orders") == 2
    assert not Delivery.objects.exclude(status=Delivery.Status.SENT).exists()  # each confirmed by the broker

    for queues in (["orders"], ["inventory"], ["testapp"]):
        worker_factory(queues)
    # An order placed right after the start is confirmed: orders learnt the products from the
    # ProductAdded events that waited in its queue (no 600 s wait for the sweep).
    order = order_place(customer_id=1, lines=[LineInput("CRUNCHY-ARMCHAIR", 2, Decimal("10.00"))]).order
    assert final_order(order.pk).status == Order.Status.CONFIRMED
    wait_until(lambda: all(tally(f"EARLY-{i}") == i + 1 for i in range(20)), what="every early ping applied")
    assert InboxRecord.objects.filter(handler="testapp.add_to_tally").count() == 20


def test_a_publish_to_a_deleted_queue_is_returned_stays_pending_and_is_sent_again_after_redeclaring(
    clean_queues: RabbitQueues, worker_factory
) -> None:
    tally_ping(key="BEFORE", amount=1)  # this process has declared the queues and published
    clean_queues.delete_queue("testapp")  # an operator deletes the queue under the running relay
    returned_before = metrics.DELIVERIES_RETURNED._value.get()

    tally_ping(key="RETURNED", amount=5)  # mandatory: the broker returns it, unroutable
    returned = Delivery.objects.get(event__payload__key="RETURNED")
    assert (returned.status, returned.send_count) == (Delivery.Status.PENDING, 0)  # never marked sent
    assert metrics.DELIVERIES_RETURNED._value.get() == returned_before + 1
    assert broker.queue_states(clean_queues.url, ["testapp"])["testapp"] is None  # nothing re-created it yet

    assert relay_pending() == 1  # the relay declares the queues again, then sends it
    returned.refresh_from_db()
    assert (returned.status, returned.send_count) == (Delivery.Status.SENT, 1)
    assert clean_queues.ready("testapp") == 1  # the one re-sent (BEFORE went with the deleted queue)

    worker_factory(["testapp"])
    wait_until(lambda: tally("RETURNED") == 5, what="the re-sent delivery to be applied")
    assert InboxRecord.objects.filter(event_id=returned.event_id).count() == 1


def test_in_a_batch_only_the_returned_publishes_count_as_not_taken(clean_queues: RabbitQueues) -> None:
    # A batch goes out on a channel of its own and waits for the broker's acks of all of it: the
    # one returned (its queue deleted) is told apart from those the broker took.
    tally_ping(key="DECLARING", amount=1)  # this process has declared the queues
    clean_queues.delete_queue("testapp")
    nothing = {"envelope": {}, "handler": "nobody"}
    batch = [("orders", nothing), ("testapp", nothing), ("inventory", nothing), ("orders", nothing)]
    assert send_messages(batch) == {1}
    assert (clean_queues.ready("orders"), clean_queues.ready("inventory")) == (2, 1)
    assert send_messages(batch) == set()  # the queues declared again: all four taken
    assert clean_queues.ready("testapp") == 1


def test_a_relay_batch_to_a_deleted_queue_stays_pending_and_goes_once_it_is_declared_again(
    clean_queues: RabbitQueues, settings
) -> None:
    settings.MESSAGING_SEND_ON_COMMIT = False  # the relay sends them, in one batch
    tally_ping(key="FIRST", amount=1)
    assert relay_pending() == 1  # the queues are declared
    clean_queues.delete_queue("testapp")
    for i in range(5):
        tally_ping(key=f"BATCH-{i}", amount=1)
    assert relay_pending() == 0  # all five returned
    assert Delivery.objects.filter(status=Delivery.Status.PENDING, send_count=0).count() == 5
    assert relay_pending() == 5
    assert clean_queues.ready("testapp") == 5


def test_a_connection_loss_mid_stream_loses_nothing_and_applies_nothing_twice(
    clean_queues: RabbitQueues, worker_factory, caplog: pytest.LogCaptureFixture
) -> None:
    worker_factory(["testapp"])
    keys = [f"STREAM-{i}" for i in range(60)]
    for i, key in enumerate(keys):
        if i == 30:
            # Every connection of the vhost closes (the worker's, this process's publisher), as
            # when the broker restarts: sends after commit fail, deliveries wait in the outbox.
            clean_queues.close_connections()
        tally_ping(key=key, amount=1)
    assert "Sending after commit failed" in caplog.text  # the loss was felt: deliveries were left pending

    def everything_sent() -> bool:
        relay_pending()  # what the relay loop does every second
        return not Delivery.objects.filter(status=Delivery.Status.PENDING).exists()

    wait_until(everything_sent, timeout=60, interval=0.5, what="the relay to send what the loss left pending")
    wait_until(
        lambda: InboxRecord.objects.filter(handler="testapp.add_to_tally").count() == len(keys),
        timeout=60,
        what="every event applied",
    )
    assert {key: tally(key) for key in keys} == dict.fromkeys(keys, 1)


def test_metrics_and_the_admin_panel_show_each_queue_s_depth_and_consumers(
    clean_queues: RabbitQueues, worker_factory, admin_user
) -> None:
    worker_factory(["testapp"])
    client = Client()
    body = client.get("/metrics").content.decode()
    assert 'messaging_queue_consumers{queue="testapp"} 1.0' in body
    assert 'messaging_queue_consumers{queue="orders"} 0.0' in body
    assert 'messaging_queue_length{queue="testapp"} 0.0' in body
    client.force_login(admin_user)
    page = client.get("/admin/").content.decode()
    assert "Queue lengths (rabbitmq)" in page and "Consumers per queue" in page
