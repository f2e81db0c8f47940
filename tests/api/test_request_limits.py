"""A body over DATA_UPLOAD_MAX_MEMORY_SIZE (1 MiB) is refused before any view code runs, on every
endpoint, DEBUG on or off: a 400 problem document under /api/, Django's plain 400 page elsewhere,
and one line in the log, without a traceback."""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from orders.models import Order
from tests.factories.orders import CustomerFactory, KnownProductFactory

pytestmark = pytest.mark.django_db

PROBLEM_JSON = "application/problem+json"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def too_big_json() -> bytes:
    line = {"sku": "CRUNCHY-ARMCHAIR", "quantity": 1, "unit_price": "10.00"}
    body = json.dumps({"lines": [line] * 30_000, "username": "alice", "password": "x"}).encode()
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 1024 * 1024
    return body


def too_big_form() -> bytes:
    return b"username=alice&password=" + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)


@pytest.fixture
def alice() -> APIClient:
    KnownProductFactory(sku="CRUNCHY-ARMCHAIR")
    client = APIClient()
    client.force_authenticate(CustomerFactory(username="alice"))
    return client


def logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/api/orders/", JSON, too_big_json),
        ("/api/users/register/", JSON, too_big_json),
        ("/api/auth/token/", JSON, too_big_json),
        ("/api/auth/token/", FORM, too_big_form),
        ("/api/auth/login/", FORM, too_big_form),  # the browsable API's login form: a plain Django view
        ("/api/no-such-endpoint/", JSON, too_big_json),
    ],
)
def test_a_body_over_the_limit_is_a_400_problem_on_every_api_endpoint(
    alice: APIClient, caplog: pytest.LogCaptureFixture, debug: bool, path: str, content_type: str, body
) -> None:
    with override_settings(DEBUG=debug), caplog.at_level(logging.INFO):
        response = alice.post(path, body(), content_type=content_type)
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == PROBLEM_JSON
    document = response.json()
    assert document["type"] == "https://errors.shop.example/bad-request"
    assert document["detail"] == "The request body is larger than this API accepts."
    assert document["correlation_id"] == response["X-Correlation-ID"]
    [line] = logged(caplog)
    assert (line.levelno, line.exc_info) == (logging.WARNING, None)
    assert "over DATA_UPLOAD_MAX_MEMORY_SIZE" in line.getMessage()
    assert not Order.objects.exists()


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_a_body_over_the_limit_is_djangos_plain_400_page_outside_the_api(
    caplog: pytest.LogCaptureFixture, debug: bool
) -> None:
    with override_settings(DEBUG=debug), caplog.at_level(logging.INFO):
        response = APIClient().post("/admin/login/", too_big_form(), content_type=FORM)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Bad Request (400)" in page
    assert "Traceback" not in page and "problem" not in page
    [line] = logged(caplog)
    assert (line.levelno, line.exc_info) == (logging.WARNING, None)


def test_a_body_within_the_limit_still_reaches_the_view(alice: APIClient) -> None:
    line = {"sku": "CRUNCHY-ARMCHAIR", "quantity": 1, "unit_price": "10.00"}
    response = alice.post("/api/orders/", {"lines": [line]}, format="json")
    assert response.status_code == 201, response.content
