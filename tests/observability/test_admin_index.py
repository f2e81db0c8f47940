"""The admin index shows the messaging layer's health at a glance."""

from __future__ import annotations

import pytest
import redis
from django.test import Client

from project.messaging.registry.databases import database_for, messaging_databases
from project.messaging.testing import TestBus
from tests.testapp.services import tally_ping

pytestmark = pytest.mark.django_db


def test_the_admin_index_shows_backlog_throughput_dead_letters_and_queues(
    admin_user, bus: TestBus, clean_broker: redis.Redis
) -> None:
    # clean_broker: the queue depths shown are the broker's, which other tests' commits may have filled
    tally_ping(key="GRUMPY", amount=1, behaviour="permanent")
    bus.drain()
    tally_ping(key="WAITING", amount=1)
    client = Client()
    client.force_login(admin_user)
    page = client.get("/admin/").content.decode()
    assert "Messaging health" in page
    # With a database per domain each database has its panel, named: testapp's rows are in its.
    named = f" ({database_for('testapp')})" if len(messaging_databases()) > 1 else ""
    assert f"Unsent deliveries{named}</dt>\n    <dd>1 — oldest waits" in page
    assert '<li><span>testapp.<wbr>add_to_tally</span><span class="count">1</span></li>' in page
    db_filter = f"&amp;db={database_for('testapp')}" if named else ""
    assert f'href="/admin/messaging/deadletter/?status__exact=dead{db_filter}"><strong>1</strong>' in page
    assert '<li><span>orders</span><span class="count">0</span></li>' in page
