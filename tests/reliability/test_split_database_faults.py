"""Faults of domains on databases of their own: collected only when the run gives them their own
(DATABASE_URL_<LABEL>), each domain's worker and relay then running that domain alone with its
database only (harness.database_env; the first test checks that the processes got just that).

- inventory's database down for 20 s (PostgreSQL: ALLOW_CONNECTIONS false, its open sessions
  terminated) while orders go on being placed, a customer registers and an article is published:
  the other domains' work completes meanwhile (the newcomer is known to notifications and gets
  the new article's email), inventory's waits (its handlers retry; orders' sweep sends the
  commands it heard nothing of again). Once the database is back everything catches up by itself:
  every order ends as its stock says, every delivery processed, each applied once.
- acknowledgements lost: the messages carrying inventory's acknowledgements of orders' commands
  vanish from orders' queue before orders' worker takes them, as they do when the broker loses
  its last writes (a Redis killed before its append-only file had them): orders' sweep sends
  those commands again, inventory's inbox drops the copies and acknowledges again, and every
  delivery ends processed with its effect applied once. (Killing inventory's relay between claim
  and send loses nothing: its transaction rolls back and the rows are sent again.)
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from articles.services import article_create, article_publish
from inventory.models import Reservation
from notifications.models import Notification, Recipient
from orders.models import Order
from project.messaging.contract.delivery import acknowledgement_task_name
from project.messaging.models import Acknowledgement, Delivery, InboxRecord
from tests.conftest import test_database_env, test_database_url, wait_until
from tests.reliability.harness import OwnRedis, System, database_unavailable, split_domains
from tests.reliability.shop import Shop, place_order, run_stream
from users.events import EmailPreferences
from users.services import user_register

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True, databases="__all__")]


def environment_of(pid: int) -> dict[str, str]:
    """What a process was started with (Linux: /proc/<pid>/environ)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def database_urls(environ: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k.startswith("DATABASE_URL")}


def test_each_domain_s_worker_and_relay_run_that_domain_alone_with_its_own_database_only(system: System) -> None:
    """As deployed (docker-compose.yml): the faults below reach one domain's processes only."""
    own = split_domains()
    for label in settings.DOMAIN_APPS:
        expected = (
            {f"DATABASE_URL_{label.upper()}": test_database_url(label)}
            if label in own
            else {"DATABASE_URL": test_database_url()}
        )  # users: the default database, beside Django's auth user
        worker = system.workers[label].proc
        assert worker is not None
        processes = {"worker": worker.pid, **{f"relay {n}": pid for n, pid in relay_parts(system, label)}}
        assert len(processes) == 2, f"{label}: a worker and the relay's process for it: {processes}"
        for what, pid in processes.items():
            environ = environment_of(pid)
            assert environ.get("DOMAINS") == label, f"{label}'s {what}"
            assert database_urls(environ) == expected, f"{label}'s {what}"
    # The messaging layer's own queue: a worker of every domain, as web and the operator commands.
    messaging = system.workers["messaging"].proc
    assert messaging is not None
    everything = environment_of(messaging.pid)
    assert "DOMAINS" not in everything
    assert database_urls(everything) == test_database_env()


def relay_parts(system: System, label: str) -> list[tuple[int, int]]:
    """(relay number, pid) of every relay's process for ``label``."""
    return [(n, pid) for n, relay in enumerate(system.relays, 1) for pid, part in relay.pids().items() if part == label]


# --- inventory's database down --------------------------------------------------------------

OUTAGE_SECONDS = 20.0
OUTAGE_AT_STEP = 3  # a few orders are on their way to inventory when its database goes


@pytest.mark.postgres_only
def test_inventory_s_database_down_20_seconds_holds_only_its_work_and_everything_catches_up(
    system: System, shop: Shop, finish
) -> None:
    outage = contextlib.ExitStack()
    down_at = 0.0
    # What inventory held when its database went; read through the test's own connection, which
    # the outage spares (the workers' and relays' are terminated, new ones refused).
    held: dict[str, int] = {}

    def take_inventory_down(step: int) -> None:
        nonlocal down_at
        if step == OUTAGE_AT_STEP:
            finish.details["outage"] = outage.enter_context(database_unavailable(["inventory"]))
            down_at = time.monotonic()
            held.update(inbox=InboxRecord.objects.using("inventory").count(), reservations=Reservation.objects.count())

    with outage:
        run_stream(shop, orders=30, interval=0.2, seed=61, before_step=take_inventory_down)
        placed_during = shop.orders[OUTAGE_AT_STEP:]
        # Users, notifications, articles and publishing go on: a newcomer registers, notifications
        # learns of her, and her new-article email leaves while inventory is still away.
        grace = user_register(
            username="grace",
            email="grace@example.com",
            password="a-long-passphrase-for-grace",
            display_name="Grace",
            preferences=EmailPreferences(order_updates=False, new_articles=True),
        )
        wait_until(
            lambda: Recipient.objects.filter(
                user_id=grace.user_id, email_version__gt=0, preferences_version__gt=0
            ).exists(),
            timeout=15,
            what="notifications to know the newcomer during the outage",
        )
        article = article_create(
            author_id=shop.users["alice"], author_name="Alice", title="Grace's first read", body="Read me."
        )
        article_publish(article_id=article.pk)
        shop.articles.append(article.pk)
        wait_until(
            lambda: (
                Notification.objects.filter(
                    user_id=grace.user_id, reference=str(article.pk), status=Notification.Status.SENT
                ).exists()
                and any(to == "grace@example.com" for to, _ in system.emails())
            ),
            timeout=15,
            what="the newcomer's new-article email during the outage",
        )
        still_down = OUTAGE_SECONDS - (time.monotonic() - down_at)
        assert still_down > 1, "the other domains' work took the whole outage: nothing shows it went on meanwhile"
        # Inventory's work waits: nothing applied there, no order placed meanwhile got its answer.
        assert InboxRecord.objects.using("inventory").count() == held["inbox"]
        assert Reservation.objects.count() == held["reservations"]
        answered = Order.objects.filter(pk__in=placed_during, status__in=[Order.Status.CONFIRMED, Order.Status.FAILED])
        assert not answered.exists(), "an order placed during the outage was answered without inventory"
        finish.details["other_domains_done_after_s"] = round(time.monotonic() - down_at, 1)
        time.sleep(still_down)
    ended_at = time.monotonic()

    # Nobody restarts anything: the workers and relays met the outage and live on.
    dead = [queue for queue in system.workers if not system.worker_alive(queue)]
    assert not dead, f"workers died of the outage: {dead}"
    assert all(relay.alive for relay in system.relays), "a relay died of the outage"
    timing = f"{OUTAGE_SECONDS:g}s, from step {OUTAGE_AT_STEP} on, the stream going on"
    row = finish(shop, fault="inventory's db down", timing=timing, fault_ended_at=ended_at)
    assert row.retried > 0, "no inventory handler met the outage: it did not test anything"
    # Orders' sweep sent again the commands inventory could not acknowledge (after
    # MESSAGING_REDELIVER_AFTER, shorter than the outage); inventory's inbox dropped the copies.
    assert row.duplicates > 0
    relay_log = system.logs_since_reset("relay-*-inventory.log")
    assert "relay: inventory: OperationalError" in relay_log, "inventory's relay never met the outage"


# --- acknowledgements lost ------------------------------------------------------------------


@dataclass(frozen=True)
class LostAcknowledgement:
    key: bytes
    raw: bytes
    processed: list[int]


def acknowledgements_queued(broker: OwnRedis, producer: str) -> list[LostAcknowledgement]:
    """The acknowledgement messages waiting in ``producer``'s queue (kombu's Redis lists: one per
    priority, each entry a JSON message whose base64 body is Celery's [args, kwargs, embed])."""
    client = broker.client()
    found = []
    for key in client.scan_iter(match=f"{producer}*"):
        if client.type(key) != b"list":
            continue
        for raw in client.lrange(key, 0, -1):
            message = json.loads(raw)
            if message["headers"].get("task") != acknowledgement_task_name(producer):
                continue
            _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            found.append(LostAcknowledgement(key, raw, [int(i) for i in kwargs["processed"]]))
    return found


@pytest.mark.owns_broker  # reaches into the suite's own Redis (deselected on RabbitMQ)
def test_acknowledgements_lost_before_the_producer_took_them_cost_a_resend_and_nothing_else(
    system: System, shop: Shop, finish
) -> None:
    assert isinstance(system.broker, OwnRedis)
    rng = random.Random(67)
    # Orders' worker stands still (between two messages), so that what inventory's relay sends it
    # waits in its queue: the acknowledgements, and inventory's replies.
    system.freeze_worker_between_messages("orders")
    try:
        for i in range(8):
            place_order(shop, i, rng)
        commands = Delivery.objects.using("orders").filter(queue="inventory")

        def all_acknowledged_and_sent() -> bool:
            events = list(commands.values_list("event_id", flat=True))  # another database: no subquery
            applied = InboxRecord.objects.using("inventory").filter(event_id__in=events)
            return (
                applied.count() == len(events)
                and not Acknowledgement.objects.using("inventory").exists()
                and bool(acknowledgements_queued(system.broker, "orders"))
            )

        wait_until(all_acknowledged_and_sent, timeout=30, what="inventory to apply and acknowledge every command")
        client = system.broker.client()
        lost = acknowledgements_queued(system.broker, "orders")
        for message in lost:
            assert client.lrem(message.key, 1, message.raw) == 1
        # A delivery may be in two of them: orders' sweep sends a command again once it has waited
        # MESSAGING_REDELIVER_AFTER unacknowledged (orders stands still), and its copy is acknowledged too.
        lost_ids = sorted({i for message in lost for i in message.processed})
        lost_at = time.monotonic()
    finally:
        system.thaw_worker("orders")
    assert lost_ids, "no acknowledgement was in orders' queue to lose"
    finish.details["acknowledgements_lost"] = len(lost_ids)
    row = finish(shop, fault="acknowledgements lost", timing=f"messages dropped: {len(lost)}", fault_ended_at=lost_at)
    # Each delivery whose acknowledgement was lost was sent again by orders' sweep (it cannot read
    # inventory's inbox), its copy dropped by inventory's inbox, which acknowledged again.
    again = Delivery.objects.using("orders").filter(pk__in=lost_ids)
    assert sorted(again.filter(status=Delivery.Status.PROCESSED).values_list("pk", flat=True)) == lost_ids
    assert min(again.values_list("send_count", flat=True)) >= 2
    assert row.duplicates >= len(lost_ids)
    # Applied once: one inbox record per command (assert_consistent checked every delivery and the stock).
    events = list(again.values_list("event_id", flat=True))
    assert InboxRecord.objects.using("inventory").filter(event_id__in=events).count() == len(events)
