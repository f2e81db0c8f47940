"""The relay and the sweep, against the real Redis broker."""

from __future__ import annotations

import base64
import json
import threading
from datetime import timedelta

import pytest
import redis
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from project.messaging.models import Delivery, InboxRecord
from project.messaging.outbox import relay
from project.messaging.outbox.publish import publish, publish_many
from project.messaging.outbox.relay import open_deliveries, sweep
from tests.testapp.events import Pinged
from tests.testapp.services import tally_ping

pytestmark = pytest.mark.django_db(transaction=True)


def queued_deliveries(client: redis.Redis, queue: str = "testapp") -> list[dict]:
    """The task kwargs of every message waiting in a queue, decoded as a worker would."""
    found = []
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        body = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        _args, kwargs, _embed = json.loads(body)
        found.append(kwargs)
    return found


def test_after_commit_the_event_is_sent_at_once(clean_broker: redis.Redis) -> None:
    tally_ping(key="EAGER", amount=1)
    [sent] = queued_deliveries(clean_broker)
    delivery = Delivery.objects.get()
    assert sent["delivery_id"] == delivery.pk and sent["handler"] == "testapp.add_to_tally"
    assert sent["envelope"]["payload"] == {"key": "EAGER", "amount": 1, "behaviour": "ok"}
    assert (delivery.status, delivery.send_count) == (Delivery.Status.SENT, 1)


def test_a_crash_between_commit_and_send_is_repaired_by_the_sweep(clean_broker: redis.Redis, settings) -> None:
    settings.MESSAGING_SEND_ON_COMMIT = False  # as if the process died right after COMMIT
    for i in range(3):
        tally_ping(key=f"CRASH-{i}", amount=1)
    assert queued_deliveries(clean_broker) == []
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 3
    report = sweep()
    assert report.sent == 3
    assert sorted(d["envelope"]["payload"]["key"] for d in queued_deliveries(clean_broker)) == [
        "CRASH-0",
        "CRASH-1",
        "CRASH-2",
    ]
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    assert sweep().sent == 0


def test_two_sweeps_at_once_send_each_event_exactly_once(clean_broker: redis.Redis, settings) -> None:
    settings.MESSAGING_SEND_ON_COMMIT = False
    settings.MESSAGING_RELAY_BATCH_SIZE = 25
    for i in range(300):
        tally_ping(key=f"RACE-{i}", amount=1)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def relay() -> None:
        try:
            barrier.wait()
            sweep()
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=relay) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sent_ids = [d["delivery_id"] for d in queued_deliveries(clean_broker)]
    assert len(sent_ids) == 300
    assert len(set(sent_ids)) == 300
    assert set(Delivery.objects.values_list("send_count", flat=True)) == {1}


def test_deliveries_lost_by_the_broker_are_sent_again_and_processed_ones_are_confirmed(
    clean_broker: redis.Redis, settings
) -> None:
    tally_ping(key="LOST", amount=1)
    tally_ping(key="DONE", amount=1)
    clean_broker.delete("testapp")  # the broker lost both messages (restart without persistence)
    done = Delivery.objects.get(event__payload__key="DONE")
    InboxRecord.objects.create(handler=done.handler, event_id=done.event_id, event_type="testapp.Pinged")
    assert sweep().requeued == 0  # not stale yet: the workers may still be on it
    Delivery.objects.update(last_sent_at=timezone.now() - timedelta(seconds=settings.MESSAGING_REDELIVER_AFTER + 1))
    report = sweep()
    assert (report.requeued, report.confirmed, report.sent) == (1, 1, 1)
    assert [d["envelope"]["payload"]["key"] for d in queued_deliveries(clean_broker)] == ["LOST"]
    lost = Delivery.objects.get(event__payload__key="LOST")
    assert (lost.status, lost.send_count) == (Delivery.Status.SENT, 2)
    assert Delivery.objects.get(pk=done.pk).status == Delivery.Status.PROCESSED


def test_the_relay_command_sends_pending_deliveries_once(clean_broker: redis.Redis, settings, capsys) -> None:
    from django.core.management import call_command

    settings.MESSAGING_SEND_ON_COMMIT = False
    tally_ping(key="CMD", amount=1)
    call_command("relay_outbox")
    assert f"{connection.alias}: sent 1, re-queued 0 lost" in capsys.readouterr().out
    assert len(queued_deliveries(clean_broker)) == 1


def test_a_message_published_in_a_rolled_back_savepoint_is_never_sent(clean_broker: redis.Redis) -> None:
    with transaction.atomic():
        publish(Pinged(key="KEPT", amount=1))
        try:
            with transaction.atomic():
                publish(Pinged(key="UNDONE", amount=1))
                raise RuntimeError("the inner step failed")
        except RuntimeError:
            pass
    assert [d["envelope"]["payload"]["key"] for d in queued_deliveries(clean_broker)] == ["KEPT"]
    assert list(Delivery.objects.values_list("event__payload__key", "status")) == [("KEPT", Delivery.Status.SENT)]


def test_a_message_of_a_rolled_back_transaction_is_not_sent_by_the_next_commit(clean_broker: redis.Redis) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        publish(Pinged(key="ROLLED-BACK", amount=1))
        raise RuntimeError("the service failed")
    tally_ping(key="NEXT", amount=1)
    assert [d["envelope"]["payload"]["key"] for d in queued_deliveries(clean_broker)] == ["NEXT"]


def test_deliveries_sent_after_commit_are_written_as_sent_so_the_relay_loop_never_sends_them_too(
    clean_broker: redis.Redis, monkeypatch
) -> None:
    send_committed, queries_after_commit = relay.send_committed, []

    def watched(**kwargs: object) -> int:
        with CaptureQueriesContext(connection) as queries:
            sent = send_committed(**kwargs)
        queries_after_commit.extend(q["sql"] for q in queries.captured_queries)
        return sent

    monkeypatch.setattr(relay, "send_committed", watched)
    tally_ping(key="HANDED-OVER", amount=1)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.send_count) == (Delivery.Status.SENT, 1)
    assert delivery.last_sent_at is not None
    # Sending after commit neither reads nor writes the outbox: the rows were written as sent.
    assert queries_after_commit == []
    assert relay.relay_pending() == 0
    assert len(queued_deliveries(clean_broker)) == 1


def test_a_crash_between_commit_and_send_after_commit_is_repaired_by_the_sweep(
    clean_broker: redis.Redis, monkeypatch, settings
) -> None:
    # The rows say "sent" from the commit on; a process killed before its send leaves them so.
    monkeypatch.setattr(relay, "send_committed", lambda **kwargs: 0)
    tally_ping(key="KILLED", amount=1)
    monkeypatch.undo()
    assert queued_deliveries(clean_broker) == []
    assert sweep().requeued == 0  # within MESSAGING_REDELIVER_AFTER: it may still be on its way
    Delivery.objects.update(last_sent_at=timezone.now() - timedelta(seconds=settings.MESSAGING_REDELIVER_AFTER + 1))
    report = sweep()
    assert (report.requeued, report.sent) == (1, 1)
    assert [d["envelope"]["payload"]["key"] for d in queued_deliveries(clean_broker)] == ["KILLED"]
    assert Delivery.objects.get().send_count == 2


def test_when_the_broker_refuses_the_send_the_deliveries_go_back_to_pending_and_sending_pauses(
    clean_broker: redis.Redis, monkeypatch, settings
) -> None:
    attempts: list[object] = []

    def broker_down(messages: object) -> None:
        attempts.append(messages)
        raise ConnectionError("broker unavailable")

    monkeypatch.setattr(relay, "send_messages", broker_down)
    tally_ping(key="LATER", amount=1)  # commits; the send fails and is only logged
    # The next commits do not wait for the broker again (with Redis down each attempt takes
    # seconds): their deliveries go straight to the relay.
    tally_ping(key="LATER-STILL", amount=1)
    assert len(attempts) == 1
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.PENDING}
    monkeypatch.undo()
    assert sweep().sent == 2
    assert sorted(d["envelope"]["payload"]["key"] for d in queued_deliveries(clean_broker)) == ["LATER", "LATER-STILL"]
    # Once the pause is over, commits send again.
    monkeypatch.setattr(relay, "_send_paused_until", 0.0)
    tally_ping(key="AGAIN", amount=1)
    assert Delivery.objects.get(event__payload__key="AGAIN").status == Delivery.Status.SENT


def test_publish_many_writes_each_message_and_sends_them_in_one_batch(clean_broker: redis.Redis) -> None:
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        envelopes = publish_many([Pinged(key=f"MANY-{i}", amount=i + 1) for i in range(5)])
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 2  # the five events, then their five deliveries
    sent = queued_deliveries(clean_broker)
    assert sorted(d["envelope"]["event_id"] for d in sent) == sorted(str(e.event_id) for e in envelopes)
    assert {e.correlation_id for e in envelopes} == {envelopes[0].event_id}  # one story
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}


def test_open_deliveries_are_found_by_the_partial_index_on_every_database() -> None:
    # The relay, the sweep and the health checks look only at open deliveries; on SQLite a query
    # with bound parameters would scan the whole table (a million rows after two weeks).
    queries = {
        "relay": open_deliveries("default").filter(status=Delivery.Status.PENDING).order_by("id"),
        "sweep": open_deliveries("default").filter(status=Delivery.Status.SENT, last_sent_at__lt=timezone.now()),
        "outbox lag": open_deliveries("default").filter(status=Delivery.Status.PENDING).values_list("created_at"),
    }
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # an empty table: make the planner show its choice
                cursor.execute("SET LOCAL enable_seqscan = off")
        plans = {name: qs.explain() for name, qs in queries.items()}
    assert {name: "delivery_open_idx" in plan for name, plan in plans.items()} == dict.fromkeys(queries, True), plans


def test_the_sweep_waits_twice_as_long_before_each_new_copy_of_an_unconfirmed_delivery(
    clean_broker: redis.Redis, settings
) -> None:
    tally_ping(key="QUEUED-BEHIND-A-BACKLOG", amount=1)  # sent once; its consumer is stopped
    after = timedelta(seconds=settings.MESSAGING_REDELIVER_AFTER)
    # (times sent, unconfirmed for how many MESSAGING_REDELIVER_AFTER, sent again?)
    cases = [
        (1, 0.9, False),
        (1, 1.1, True),
        (2, 1.9, False),
        (2, 2.1, True),
        (3, 3.9, False),
        (3, 4.1, True),
        (9, 7.9, False),
        (9, 8.1, True),
    ]
    seen = []
    for send_count, waited, _ in cases:
        Delivery.objects.update(
            status=Delivery.Status.SENT, send_count=send_count, last_sent_at=timezone.now() - waited * after
        )
        seen.append((send_count, waited, sweep().requeued == 1))
    assert seen == cases
