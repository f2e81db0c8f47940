"""A consumer on a database of its own, with real workers: its worker is given only its own
database, and the producer learns the outcome through an acknowledgement its own worker applies."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.test import override_settings
from django.utils import timezone

from project.messaging.models import Acknowledgement, Delivery, InboxRecord, OutboxEvent
from project.messaging.outbox.relay import sweep
from project.messaging.registry.databases import database_for
from tests.brokers import BrokerQueues
from tests.conftest import WorkerProcess, wait_until
from tests.testapp.models import Tally
from tests.testapp.routers import CONSUMER_DB

# Every database: the producer's is its own when each domain has one.
pytestmark = [pytest.mark.flows, pytest.mark.django_db(transaction=True, databases="__all__")]


def database_url(alias: str) -> str:
    s = connections[alias].settings_dict
    if connections[alias].vendor == "sqlite":
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def test_the_producer_learns_from_its_own_worker_and_the_consumer_touches_only_its_database(
    worker_factory: Callable[..., WorkerProcess], clean_queues: BrokerQueues, tmp_path: Path
) -> None:
    # The consumer's worker is not given the producer's database: its "default" is the consumer's
    # own on PostgreSQL, and an empty file of its own on SQLite (two aliases on one SQLite file
    # would wait for each other's write lock: testapp's service opens a transaction on "default").
    own_default = (
        f"sqlite:///{tmp_path / 'consumer-default.sqlite3'}"
        if connections[CONSUMER_DB].vendor == "sqlite"
        else database_url(CONSUMER_DB)
    )
    worker_factory(
        ["testapp"],
        env={
            "DATABASE_URL": own_default,
            "TEST_ELSEWHERE_DATABASE_NAME": connections[CONSUMER_DB].settings_dict["NAME"],
            "TESTAPP_ELSEWHERE": "1",
        },
    )
    worker_factory(["articles"])  # the producer's worker, on the producer's database
    # testapp moved "elsewhere"; the project's routers stay (articles on its own database, if split).
    with override_settings(DATABASE_ROUTERS=["tests.testapp.routers.TestappElsewhere", *settings.DATABASE_ROUTERS]):
        producer_db = database_for("articles")
        with transaction.atomic(using=producer_db):  # as the producer "articles" would publish it
            event = OutboxEvent.objects.using(producer_db).create(
                event_type="testapp.Pinged",
                schema_version=2,
                producer="articles",
                aggregate_type="tally",
                aggregate_id="ACK-FLOW",
                correlation_id=uuid.uuid4(),
                occurred_at=timezone.now(),
                payload={"key": "ACK-FLOW", "amount": 6},
            )
            delivery = Delivery.objects.using(producer_db).create(
                event=event, handler="testapp.add_to_tally", queue="testapp"
            )
        assert sweep(using=producer_db).sent == 1  # the producer's relay

        wait_until(
            lambda: Acknowledgement.objects.using(CONSUMER_DB).exists(),
            what="the consumer to apply and acknowledge",
        )
        assert Tally.objects.using(CONSUMER_DB).get(key="ACK-FLOW").count == 6
        assert InboxRecord.objects.using(CONSUMER_DB).count() == 1
        assert not InboxRecord.objects.using(producer_db).exists()
        assert Delivery.objects.using(producer_db).get(pk=delivery.pk).status == Delivery.Status.SENT

        assert sweep(using=CONSUMER_DB).acknowledged == 1  # the consumer's relay
        wait_until(
            lambda: Delivery.objects.using(producer_db).get(pk=delivery.pk).status == Delivery.Status.PROCESSED,
            what="the producer's worker to apply the acknowledgement",
        )
        assert not Acknowledgement.objects.using(CONSUMER_DB).exists()
