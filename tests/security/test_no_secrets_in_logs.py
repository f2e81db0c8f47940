"""No password, API token or secret key is ever written to the logs.

One session does everything that handles a secret: registrations (one refused), a login for a
token, failed logins on the API and the admin form, a throttled login, an order placed with the
token, a crash in the middle of a registration, and then the events it all published delivered to
their handlers (the code the Celery workers run). Every log record of every logger, from the root
at DEBUG, is rendered the two ways production renders it (structlog's key=value lines and JSON
lines) and searched for the secrets.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.signals import got_request_exception
from django.test import override_settings
from django.views.debug import SafeExceptionReporterFilter
from rest_framework.test import APIClient

from project.messaging.models import OutboxEvent
from project.messaging.testing import TestBus
from project.observability.logging import logging_config
from tests.factories.orders import KnownProductFactory

pytestmark = pytest.mark.django_db

DORAS_PASSWORD = "dora-explores-with-Sw0rdfish!"
WRONG_GUESS = "Wr0ng-guess-Tr0mbone"
ADMIN_GUESS = "admin-guess-Zeppelin-42"
WEAK_PASSWORD = "password"
CRASH_PASSWORD = "crash-time-Kumquat-77"


@pytest.fixture
def all_log_output() -> Iterator[io.StringIO]:
    """Every record of every logger, from the root at DEBUG, rendered as production renders it."""
    output = io.StringIO()
    handlers = []
    for fmt in ("console", "json"):
        spec = dict(logging_config(level="DEBUG", fmt=fmt)["formatters"]["structured"])
        formatter = spec.pop("()")(**spec)
        handler = logging.StreamHandler(output)
        handler.setFormatter(formatter)
        handler.setLevel(logging.DEBUG)
        handlers.append(handler)
    root = logging.getLogger()
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    for handler in handlers:
        root.addHandler(handler)
    try:
        yield output
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(previous_level)


def register(client: APIClient, username: str, password: str, **extra):
    body = {"username": username, "email": f"{username}@example.com", "password": password}
    return client.post("/api/users/register/", body, format="json", **extra)


@override_settings(SECRET_KEY="a-long-secret-key-that-only-this-test-uses-Xylophone-0123456789")
@pytest.mark.usefixtures("real_rate_limits")
def test_passwords_tokens_and_the_secret_key_never_reach_the_logs(all_log_output: io.StringIO, bus: TestBus) -> None:
    KnownProductFactory(sku="CRUNCHY-ARMCHAIR")
    client = APIClient(raise_request_exception=False)

    assert register(client, "dora", DORAS_PASSWORD).status_code == 201
    assert register(client, "weak-willy", WEAK_PASSWORD).status_code == 400  # refused by the validators
    token = client.post("/api/auth/token/", {"username": "dora", "password": DORAS_PASSWORD}, format="json")
    assert token.status_code == 200
    key = token.json()["token"]
    assert client.post("/api/auth/token/", {"username": "dora", "password": WRONG_GUESS}).status_code == 400
    assert client.post("/admin/login/", {"username": "dora", "password": ADMIN_GUESS}).status_code == 200
    placed = client.post(
        "/api/orders/",
        {"lines": [{"sku": "CRUNCHY-ARMCHAIR", "quantity": 1, "unit_price": "10.00"}]},
        format="json",
        HTTP_AUTHORIZATION=f"Token {key}",
    )
    assert placed.status_code == 201
    with mock.patch("users.services.user_register", side_effect=RuntimeError("the database fell over")):
        assert register(client, "crashy", CRASH_PASSWORD).status_code == 500
    statuses = [
        client.post("/api/auth/token/", {"username": "dora", "password": f"{WRONG_GUESS}-{n}"}).status_code
        for n in range(12)
    ]
    assert statuses[:7] == [400] * 7 and statuses[7:] == [429] * 5  # 3 logins above, 10 a minute
    bus.drain()  # UserRegistered, OrderPlaced...: what the workers would log while handling them

    logged = all_log_output.getvalue()
    dora = get_user_model().objects.get(username="dora")
    assert "Bad Request: /api/users/register/" in logged  # the capture works: a refused registration
    assert "the database fell over" in logged  # and the crash's traceback
    handled = {h.event_type for h in bus.handled()}
    assert "users.UserRegistered" in handled and any(t.startswith("orders.") for t in handled)
    for secret in [DORAS_PASSWORD, WRONG_GUESS, ADMIN_GUESS, CRASH_PASSWORD, key, dora.password, settings.SECRET_KEY]:
        assert secret not in logged, f"a secret is in the logs: {secret[:4]}..."
    assert f"{WRONG_GUESS}-" not in logged
    assert '"password"' not in logged.replace('"password": [', "")  # no body echoed with its password field


def test_the_user_registered_event_carries_the_email_but_never_the_password(bus: TestBus) -> None:
    assert register(APIClient(), "dora", DORAS_PASSWORD).status_code == 201

    event = OutboxEvent.objects.get(event_type="users.UserRegistered")

    assert event.payload["email"] == "dora@example.com"
    assert "password" not in event.payload
    assert DORAS_PASSWORD not in str(event.payload)
    assert get_user_model().objects.get(username="dora").password not in str(event.payload)


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/api/users/register/", {"username": "crashy", "email": "crashy@example.com", "password": CRASH_PASSWORD}),
        ("/api/auth/token/", {"username": "crashy", "password": CRASH_PASSWORD}),
    ],
)
def test_an_error_report_of_a_crashed_request_hides_the_password(path: str, fields: dict) -> None:
    """Django's error reports (admin emails, error trackers reading the request) filter it."""
    crashed = []

    def keep(sender, request, **kwargs):
        crashed.append(request)

    got_request_exception.connect(keep)
    try:
        with (
            mock.patch("users.services.user_register", side_effect=RuntimeError("boom")),
            mock.patch("rest_framework.authtoken.serializers.authenticate", side_effect=RuntimeError("boom")),
        ):
            response = APIClient(raise_request_exception=False).post(path, fields)  # a form, as a browser sends
    finally:
        got_request_exception.disconnect(keep)

    assert response.status_code == 500
    shown = SafeExceptionReporterFilter().get_post_parameters(crashed[0])
    assert shown["password"] != CRASH_PASSWORD
    assert set(shown["password"]) == {"*"}
    assert shown["username"] == "crashy"
