"""An outage (the database or the broker unreachable) is a 503 problem with Retry-After, logged
as one WARNING line without a traceback; a bug stays a 500. DEBUG on or off."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, ProgrammingError, connection, connections
from django.test import override_settings
from rest_framework.test import APIClient

from project.api.errors import OUTAGE_RETRY_AFTER_SECONDS, unavailable_service
from project.messaging.registry.databases import database_for
from tests.api.urls import closed_port
from tests.factories.orders import CustomerFactory

pytestmark = pytest.mark.urls("tests.api.urls")

PROBLEM_JSON = "application/problem+json"
DEBUG_MODES = pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])


@pytest.fixture
def database_down(transactional_db: None) -> Iterator[None]:
    """The real thing: the next connection goes to a database that is not there (SQLite: a file
    that cannot be opened; PostgreSQL: a port nobody listens on). Every database of the run: with
    a database per domain, a view reads its domain's, not the default."""
    down = [connections[alias] for alias in settings.DATABASES]
    saved = [dict(each.settings_dict) for each in down]
    for each in down:
        each.close()
        if each.vendor == "sqlite":
            each.settings_dict["NAME"] = "/nonexistent/directory/db.sqlite3"
        else:
            each.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()))
    try:
        yield
    finally:
        for each, its_settings in zip(down, saved, strict=True):
            each.close()
            each.settings_dict.clear()
            each.settings_dict.update(its_settings)


def warnings_and_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def assert_outage(response, caplog: pytest.LogCaptureFixture, service: str) -> None:
    assert response.status_code == 503, response.content[:500]
    assert response["Content-Type"] == PROBLEM_JSON
    assert response["Retry-After"] == str(OUTAGE_RETRY_AFTER_SECONDS)
    document = response.json()
    assert document["type"] == "https://errors.shop.example/service-unavailable"
    assert (document["status"], document["instance"]) == (503, response.wsgi_request.path)
    assert document["correlation_id"] == response["X-Correlation-ID"]
    assert f"The {service} is unavailable" in document["detail"]
    [line] = warnings_and_errors(caplog)
    assert (line.levelno, line.exc_info) == (logging.WARNING, None)
    assert f"{service} unavailable" in line.getMessage()


@DEBUG_MODES
def test_a_database_outage_in_an_api_view_is_a_503_problem_logged_in_one_line(
    transactional_db: None, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest, debug: bool
) -> None:
    client = APIClient()
    client.force_authenticate(CustomerFactory(username="alice"))
    request.getfixturevalue("database_down")
    with override_settings(DEBUG=debug), caplog.at_level(logging.INFO):
        response = client.get("/api/orders/")
    assert_outage(response, caplog, "database")


@DEBUG_MODES
def test_a_database_outage_in_a_plain_django_view_under_the_api_is_a_503_too(
    database_down: None, caplog: pytest.LogCaptureFixture, debug: bool
) -> None:
    with override_settings(DEBUG=debug), caplog.at_level(logging.INFO):
        response = APIClient().post("/api/auth/login/", {"username": "alice", "password": "alice"})
    assert_outage(response, caplog, "database")


def test_a_database_outage_django_answers_itself_is_a_503_too(
    database_down: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Raised in a middleware, outside any view: Django's handler500 answers it.
    with (
        override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, "tests.api.middleware.QueryingMiddleware"]),
        caplog.at_level(logging.INFO),
    ):
        response = APIClient(raise_request_exception=False).get("/api/public/articles/")
    assert_outage(response, caplog, "database")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates a PostgreSQL backend")
def test_a_connection_the_database_terminated_is_a_503_and_the_next_request_reconnects(
    transactional_db: None, caplog: pytest.LogCaptureFixture
) -> None:
    client = APIClient()
    client.force_authenticate(CustomerFactory(username="alice"))
    connection = connections[database_for("orders")]  # the view's: the orders' database
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as operator:
        operator.execute("SELECT pg_terminate_backend(%s)", [pid])
    with caplog.at_level(logging.INFO):
        response = client.get("/api/orders/")
    assert_outage(response, caplog, "database")
    connection.close_if_unusable_or_obsolete()  # what Django does when the request ends
    assert client.get("/api/orders/").status_code == 200


@DEBUG_MODES
def test_a_broker_outage_while_publishing_is_a_503_problem(caplog: pytest.LogCaptureFixture, debug: bool) -> None:
    with override_settings(DEBUG=debug), caplog.at_level(logging.INFO):
        response = APIClient().post("/api/test/broker-down/")
    assert_outage(response, caplog, "broker")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/test/missing-table/", "/api/test/integrity-bug/", "/api/test/programming-bug/"])
def test_a_database_error_that_is_a_bug_stays_a_500(path: str) -> None:
    response = APIClient(raise_request_exception=False).get(path)
    assert response.status_code == 500
    assert response["Content-Type"] == PROBLEM_JSON
    assert response.json()["type"] == "https://errors.shop.example/server-error"
    assert "Retry-After" not in response


@pytest.mark.django_db
def test_pages_outside_the_api_keep_djangos_own_answer_to_an_outage(database_down: None) -> None:
    response = APIClient(raise_request_exception=False).get("/admin/")
    assert response.status_code in (302, 500)  # the admin's login redirect needs no database
    assert response["Content-Type"] != PROBLEM_JSON


def wrapped(exc: Exception, cause: BaseException | None) -> Exception:
    exc.__cause__ = cause
    return exc


def sqlite_error(sql: str, database: str = ":memory:") -> sqlite3.Error:
    try:
        sqlite3.connect(database).execute(sql)
    except sqlite3.Error as exc:
        return exc
    raise AssertionError(f"{sql} did not fail")


@pytest.mark.parametrize(
    ("exc", "service"),
    [
        (wrapped(OperationalError("unable to open"), sqlite_error("SELECT 1", "/nonexistent/x.db")), "database"),
        (OperationalError("database is locked"), "database"),  # project.db.backends.sqlite3's own
        (wrapped(OperationalError("connection refused"), psycopg.OperationalError("connection refused")), "database"),
        (wrapped(OperationalError("terminating"), psycopg.errors.AdminShutdown("terminating connection")), "database"),
        (wrapped(OperationalError("too many"), psycopg.errors.TooManyConnections("too many clients")), "database"),
        (InterfaceError("connection already closed"), "database"),
        (redis.exceptions.ConnectionError("Connection refused"), "broker"),
        # Bugs and races: waiting does not fix them, or they are no outage.
        (wrapped(OperationalError("no such table: x"), sqlite_error("SELECT * FROM x")), None),
        (wrapped(OperationalError('near "SELEC"'), sqlite_error("SELEC 1")), None),
        (wrapped(OperationalError("deadlock"), psycopg.errors.DeadlockDetected("deadlock detected")), None),
        (wrapped(OperationalError("timeout"), psycopg.errors.QueryCanceled("statement timeout")), None),
        (ProgrammingError("relation does not exist"), None),
        (IntegrityError("duplicate key"), None),
        (RuntimeError("flux capacitor"), None),
    ],
)
def test_only_an_unreachable_database_or_broker_counts_as_an_outage(exc: Exception, service: str | None) -> None:
    assert unavailable_service(exc) == service
