"""Rate limits on logins, registration and order placement, counted in Redis and so shared by
every process (project/api/throttling.py)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.test import override_settings
from rest_framework.test import APIClient

from tests.factories.orders import CustomerFactory
from tests.security.conftest import REAL_RATES, cache_redis, throttle_keys

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("real_rate_limits")]

REPO = Path(__file__).resolve().parents[2]
TOKEN = "/api/auth/token/"
REGISTER = "/api/users/register/"
ORDERS = "/api/orders/"
PROBLEM_JSON = "application/problem+json"


def guess(client: APIClient, n: int, **extra):
    return client.post(TOKEN, {"username": "mallory", "password": f"guess-number-{n}"}, format="json", **extra)


def assert_throttled(response, *, within: int = 60) -> dict:
    assert response.status_code == 429, response.content
    assert response["Content-Type"] == PROBLEM_JSON
    assert 1 <= int(response["Retry-After"]) <= within
    body = response.json()
    assert body["type"] == "https://errors.shop.example/throttled"
    assert body["status"] == 429
    return body


def test_the_eleventh_login_attempt_within_a_minute_is_a_429_problem_with_retry_after() -> None:
    CustomerFactory(username="mallory", password="the-real-password")
    client = APIClient()
    assert [guess(client, n).status_code for n in range(10)] == [400] * 10

    # Even the right password: the limit counts attempts, not failures.
    eleventh = client.post(TOKEN, {"username": "mallory", "password": "the-real-password"}, format="json")

    body = assert_throttled(eleventh)
    assert body["instance"] == TOKEN
    assert "token" not in body


def test_another_address_still_gets_its_own_ten_attempts() -> None:
    client = APIClient()
    for n in range(10):
        guess(client, n)
    assert guess(client, 11).status_code == 429
    assert guess(client, 12, REMOTE_ADDR="198.51.100.20").status_code == 400


def test_a_made_up_x_forwarded_for_header_does_not_buy_a_fresh_allowance() -> None:
    client = APIClient()
    for n in range(10):
        guess(client, n, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    assert_throttled(guess(client, 10, HTTP_X_FORWARDED_FOR="203.0.113.99"))


def test_behind_one_trusted_proxy_the_client_is_the_address_the_proxy_appended() -> None:
    client = APIClient()
    rest = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    with override_settings(REST_FRAMEWORK=rest):
        for n in range(10):
            guess(client, n, HTTP_X_FORWARDED_FOR="203.0.113.7")
        assert guess(client, 10, HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 429
        assert guess(client, 11, HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 400


def test_the_token_endpoint_and_both_login_forms_share_one_allowance() -> None:
    client = APIClient()
    for n in range(4):
        guess(client, n)
    for n in range(3):
        assert client.post("/api/auth/login/", {"username": "mallory", "password": f"form-{n}"}).status_code == 200
    for n in range(3):
        assert client.post("/admin/login/", {"username": "mallory", "password": f"admin-{n}"}).status_code == 200

    assert_throttled(guess(client, 99))
    admin_form = client.post("/admin/login/", {"username": "mallory", "password": "one-more"})
    assert admin_form.status_code == 429
    assert admin_form["Content-Type"].startswith("text/plain")  # outside /api/: no problem document
    assert int(admin_form["Retry-After"]) >= 1
    assert_throttled(client.post("/api/auth/login/", {"username": "mallory", "password": "one-more"}))
    # Showing the forms is not an attempt.
    assert client.get("/admin/login/").status_code == 200


def test_registration_is_limited_per_address() -> None:
    client = APIClient()
    statuses = [client.post(REGISTER, {"username": f"bot {n}"}, format="json").status_code for n in range(10)]
    assert statuses == [400] * 10
    assert_throttled(client.post(REGISTER, {"username": "bot-eleven"}, format="json"), within=3600)
    assert client.post(REGISTER, {"username": "human"}, format="json", REMOTE_ADDR="198.51.100.30").status_code == 400


def test_order_placement_is_limited_per_customer_and_reading_orders_is_not() -> None:
    eager, patient = APIClient(), APIClient()
    eager.force_authenticate(CustomerFactory(username="eager-eve"))
    patient.force_authenticate(CustomerFactory(username="patient-pat"))
    assert {eager.post(ORDERS, {"lines": []}, format="json").status_code for _ in range(30)} == {400}

    assert_throttled(eager.post(ORDERS, {"lines": []}, format="json"))
    assert eager.get(ORDERS).status_code == 200
    # Same address, another customer: their own allowance.
    assert patient.post(ORDERS, {"lines": []}, format="json").status_code == 400


def test_the_counter_lives_in_redis_where_a_fresh_cache_connection_reads_it() -> None:
    client = APIClient()
    for n in range(3):
        guess(client, n)

    location = settings.CACHES["default"]["LOCATION"]
    fresh = RedisCache(location, {"KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"]})
    history = fresh.get("throttle_login_127.0.0.1")
    assert isinstance(history, list) and len(history) == 3
    assert [k.decode() for k in throttle_keys(cache_redis())] == [
        f"{settings.CACHES['default']['KEY_PREFIX']}:1:throttle_login_127.0.0.1"
    ]


SUBPROCESS_ATTEMPTS = """
import json, sys
import django
django.setup()
from django.test import Client
client = Client()
statuses = [
    client.post("/api/auth/token/", {}, content_type="application/json").status_code
    for _ in range(int(sys.argv[1]))
]
print(json.dumps(statuses))
"""


def attempts_in_another_process(count: int, tmp_path: Path) -> list[int]:
    """Login attempts made by a separate Python process (production settings, the same Redis).

    An empty body is refused by the serializer before any database access, so the other process
    needs no database (it gets an empty SQLite file, never the test database)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",  # production settings: the real rates
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "THROTTLE_LOGIN_RATE": REAL_RATES["login"],
    }
    done = subprocess.run(
        [sys.executable, "-c", SUBPROCESS_ATTEMPTS, str(count)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_processes_share_one_limit(tmp_path: Path) -> None:
    client = APIClient()
    for n in range(6):
        assert guess(client, n).status_code == 400

    # Four more from another process: allowed, and counted in the same place...
    assert attempts_in_another_process(4, tmp_path) == [400] * 4
    # ...so this process has used up the ten,
    assert_throttled(guess(client, 6))
    # and the other process is refused too.
    assert attempts_in_another_process(1, tmp_path) == [429]


def test_when_the_cache_is_unreachable_logins_are_let_through_and_the_fault_is_logged(caplog) -> None:
    unreachable = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }
    client = APIClient()
    with override_settings(CACHES=unreachable), caplog.at_level(logging.ERROR, logger="project.api.throttling"):
        statuses = {guess(client, n).status_code for n in range(12)}
    assert statuses == {400}
    assert "throttle cache unavailable" in caplog.text


@pytest.mark.parametrize(
    ("method", "path"), [("post", "/api/auth/token/"), ("post", "/api/orders/"), ("post", "/api/users/register/")]
)
def test_the_schema_documents_the_429_and_its_retry_after_header(method: str, path: str) -> None:
    client = APIClient()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    throttled = schema["paths"][path][method]["responses"]["429"]
    assert "Retry-After" in throttled["headers"]
    assert "application/problem+json" in throttled["content"]
    assert "429" not in schema["paths"]["/api/orders/"]["get"]["responses"]
