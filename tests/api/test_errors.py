"""Every error under /api/ is an RFC 9457 problem document; pages outside /api/ keep Django's own."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from orders.models import Order
from tests.api.urls import SECRET_IN_THE_CRASH
from tests.factories.orders import CustomerFactory, KnownProductFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api.urls")]

PROBLEM_JSON = "application/problem+json"
TYPES = "https://errors.shop.example/"
ARMCHAIR_LINE = {"sku": "CRUNCHY-ARMCHAIR", "quantity": 1, "unit_price": "10.00"}


@pytest.fixture
def alice() -> APIClient:
    KnownProductFactory(sku="CRUNCHY-ARMCHAIR")
    client = APIClient()
    client.force_authenticate(CustomerFactory(username="alice"))
    return client


def problem(response, *, status: int, type: str) -> dict:
    """The response's problem document, after checking the members every problem has."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == (type if type == "about:blank" else TYPES + type)
    assert body["status"] == status
    assert body["instance"] == response.wsgi_request.path
    assert body["correlation_id"] == response["X-Correlation-ID"]
    assert body["title"] and body["detail"]
    return body


def test_invalid_input_is_a_validation_problem_that_keeps_the_field_errors(alice: APIClient) -> None:
    correlation_id = str(uuid.uuid4())
    lines = [{**ARMCHAIR_LINE, "sku": "GHOST-SOFA"}]
    response = alice.post("/api/orders/", {"lines": lines}, format="json", HTTP_X_CORRELATION_ID=correlation_id)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM_JSON
    assert response.json() == {
        "type": "https://errors.shop.example/validation",
        "title": "Invalid request",
        "status": 400,
        "detail": "lines: Unknown sku: GHOST-SOFA.",
        "instance": "/api/orders/",
        "correlation_id": correlation_id,
        "errors": {"lines": ["Unknown sku: GHOST-SOFA."]},
    }
    assert not Order.objects.exists()


def test_errors_of_a_nested_field_keep_their_shape_and_the_detail_names_the_path(alice: APIClient) -> None:
    lines = [ARMCHAIR_LINE, {**ARMCHAIR_LINE, "sku": "drop table;"}]
    body = problem(alice.post("/api/orders/", {"lines": lines}, format="json"), status=400, type="validation")
    assert body["errors"] == {"lines": {"1": {"sku": ["Use capitals, digits and dashes, at most 64 characters."]}}}
    assert body["detail"] == "lines.1.sku: Use capitals, digits and dashes, at most 64 characters."


def test_a_body_that_is_not_json_is_a_malformed_request_problem(alice: APIClient) -> None:
    response = alice.post("/api/orders/", '{"lines": [', content_type="application/json")
    body = problem(response, status=400, type="malformed-request")
    assert body["detail"].startswith("JSON parse error")
    assert "errors" not in body


def test_a_django_validation_error_is_a_validation_problem_too() -> None:
    body = problem(APIClient().post("/api/test/model-rule/"), status=400, type="validation")
    assert body["errors"] == {"colour": ["Armchairs come in red or green."]}


def test_an_anonymous_request_is_a_401_problem_that_says_how_to_authenticate() -> None:
    response = APIClient().get("/api/orders/")
    body = problem(response, status=401, type="not-authenticated")
    assert body["detail"] == "Authentication credentials were not provided."
    assert response["WWW-Authenticate"] == "Token"


def test_an_unknown_token_is_a_401_authentication_failed_problem() -> None:
    response = APIClient().get("/api/orders/", HTTP_AUTHORIZATION="Token not-a-real-token")
    assert problem(response, status=401, type="authentication-failed")["detail"] == "Invalid token."


def test_a_customer_creating_a_product_gets_a_403_problem(alice: APIClient) -> None:
    response = alice.post("/api/products/", {"sku": "NEW-STOOL", "name": "New stool"}, format="json")
    assert problem(response, status=403, type="permission-denied")["detail"] == (
        "Only staff change products: creating one needs the inventory.add_stockitem permission, "
        "restocking or adjusting one inventory.change_stockitem."
    )


def test_an_unknown_order_is_a_404_problem(alice: APIClient) -> None:
    response = alice.get(f"/api/orders/{uuid.uuid4()}/")
    assert problem(response, status=404, type="not-found")["detail"] == "No Order matches the given query."


def test_a_url_no_api_route_matches_is_a_404_problem_too() -> None:
    body = problem(APIClient().get("/api/no-such-thing/"), status=404, type="not-found")
    assert body["detail"] == "No API endpoint has this URL."


def test_a_method_the_endpoint_does_not_take_is_a_405_problem_naming_the_allowed_ones(alice: APIClient) -> None:
    response = alice.put("/api/orders/", {}, format="json")
    assert problem(response, status=405, type="method-not-allowed")["detail"] == 'Method "PUT" not allowed.'
    assert response["Allow"] == "GET, POST, HEAD, OPTIONS"


def test_a_conflict_is_a_409_problem_typed_after_its_exception() -> None:
    body = problem(APIClient().post("/api/test/sold/"), status=409, type="conflict")
    assert (body["title"], body["detail"]) == ("Conflict", "The crunchy armchair was sold a minute ago.")


def test_a_body_of_an_unsupported_media_type_is_a_415_problem(alice: APIClient) -> None:
    response = alice.post("/api/orders/", "CRUNCHY-ARMCHAIR x1", content_type="text/plain")
    assert problem(response, status=415, type="unsupported-media-type")["detail"] == (
        'Unsupported media type "text/plain" in request.'
    )


def test_a_throttled_request_is_a_429_problem_that_says_when_to_retry() -> None:
    response = APIClient().get("/api/test/crowded/")
    body = problem(response, status=429, type="throttled")
    assert response["Retry-After"] == "42"
    assert "42 seconds" in body["detail"]


def test_a_body_over_the_upload_limit_is_a_400_problem(alice: APIClient) -> None:
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100):
        response = alice.post("/api/orders/", {"lines": [ARMCHAIR_LINE] * 10}, format="json")
    body = problem(response, status=400, type="bad-request")
    assert body["detail"] == "The request body is larger than this API accepts."
    assert not Order.objects.exists()


def test_a_crash_is_a_500_problem_that_hides_the_error_and_django_still_logs_it(caplog) -> None:
    client = APIClient(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/api/test/crash/")
    body = problem(response, status=500, type="server-error")
    assert body["detail"] == "The server failed to answer this request. Quote the correlation_id when reporting it."
    assert SECRET_IN_THE_CRASH not in response.content.decode()
    logged = [r for r in caplog.records if r.name == "django.request" and r.exc_info]
    assert logged and str(logged[0].exc_info[1]) == SECRET_IN_THE_CRASH


def test_the_browsable_api_still_answers_html_to_a_browser() -> None:
    response = APIClient().get("/api/orders/", HTTP_ACCEPT="text/html")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("text/html")


def test_pages_outside_the_api_keep_djangos_own_404_and_500() -> None:
    client = APIClient(raise_request_exception=False)
    missing = client.get("/no-such-page/")
    crashed = client.get("/pages/crash/")
    assert (missing.status_code, crashed.status_code) == (404, 500)
    assert missing["Content-Type"].startswith("text/html")
    assert crashed["Content-Type"].startswith("text/html")
    assert b"problem" not in missing.content + crashed.content
