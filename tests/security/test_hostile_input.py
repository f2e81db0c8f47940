"""Hostile request bodies are refused with a 4xx problem document before any service runs:
oversized bodies, deeply nested JSON, huge lists and objects (project/api/parsers.py)."""

from __future__ import annotations

import json
import logging
from unittest import mock

import pytest
from rest_framework.test import APIClient

from orders.models import Order
from project.api.parsers import json_shape
from tests.factories.orders import CustomerFactory, KnownProductFactory
from users.models import UserProfile

pytestmark = pytest.mark.django_db

PROBLEM_JSON = "application/problem+json"
ORDERS = "/api/orders/"
REGISTER = "/api/users/register/"
ARMCHAIR_LINE = {"sku": "CRUNCHY-ARMCHAIR", "quantity": 1, "unit_price": "10.00"}
ONE_MIB = 1024 * 1024


@pytest.fixture
def alice() -> APIClient:
    KnownProductFactory(sku="CRUNCHY-ARMCHAIR")
    client = APIClient()
    client.force_authenticate(CustomerFactory(username="alice"))
    return client


@pytest.fixture
def order_place_must_not_run():
    with mock.patch("orders.services.order_place", side_effect=AssertionError("the service ran")) as service:
        yield service
    assert not service.called


def problem(response, *, status: int, type: str) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"] == f"https://errors.shop.example/{type}"
    return body


def post_raw(client: APIClient, path: str, body: bytes, content_type: str = "application/json"):
    return client.generic("POST", path, body, content_type=content_type)


def nested(depth: int, innermost: object = 1) -> object:
    for _ in range(depth):
        innermost = [innermost]
    return innermost


# --- Oversized bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", json.dumps({"lines": [ARMCHAIR_LINE], "padding": "x" * ONE_MIB}).encode()),
        ("application/x-www-form-urlencoded", b"lines=" + b"x" * (ONE_MIB + 1)),
        (
            "multipart/form-data; boundary=BoUnDaRy",
            b'--BoUnDaRy\r\nContent-Disposition: form-data; name="lines"\r\n\r\n'
            + b"x" * (ONE_MIB + 1)
            + b"\r\n--BoUnDaRy--\r\n",
        ),
    ],
    ids=["json", "form", "multipart"],
)
def test_a_body_over_one_mebibyte_is_refused_before_the_service_runs(
    alice: APIClient, order_place_must_not_run, content_type: str, body: bytes
) -> None:
    response = post_raw(alice, ORDERS, body, content_type)

    assert (
        problem(response, status=400, type="bad-request")["detail"]
        == "The request body is larger than this API accepts."
    )
    assert not Order.objects.exists()


def test_a_body_just_under_the_limit_is_parsed_and_judged_on_its_content(alice: APIClient) -> None:
    body = json.dumps({"lines": [ARMCHAIR_LINE], "note": "x" * (ONE_MIB - 200)}).encode()
    assert len(body) < ONE_MIB
    assert post_raw(alice, ORDERS, body).status_code == 201


# --- Deeply nested JSON ------------------------------------------------------------------------------


def test_json_nested_deeper_than_twenty_levels_is_a_400_before_the_service_runs(
    alice: APIClient, order_place_must_not_run
) -> None:
    body = json.dumps({"lines": nested(20)}).encode()  # the object is one level more: 21

    detail = problem(post_raw(alice, ORDERS, body), status=400, type="malformed-request")["detail"]

    assert detail == "JSON parse error - nested deeper than 20 levels."


def test_json_exactly_twenty_levels_deep_is_parsed_and_refused_by_validation_instead(alice: APIClient) -> None:
    body = json.dumps({"lines": nested(19)}).encode()
    problem(post_raw(alice, ORDERS, body), status=400, type="validation")


def test_a_hundred_thousand_levels_of_nesting_is_a_400_not_a_recursion_error(caplog) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with caplog.at_level(logging.ERROR):
        response = post_raw(APIClient(), REGISTER, body)
    problem(response, status=400, type="malformed-request")
    assert "RecursionError" not in caplog.text


def test_unbalanced_deep_nesting_is_a_400_too() -> None:
    problem(post_raw(APIClient(), REGISTER, b"[" * 5000), status=400, type="malformed-request")


def test_brackets_inside_strings_are_text_not_nesting() -> None:
    assert json_shape(b'{"title": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "q": "\\"]]"}', max_depth=20) == (1, 2)


# --- Huge lists and objects --------------------------------------------------------------------------


def test_a_hundred_thousand_order_lines_are_refused_by_the_parser_before_the_service_runs(
    alice: APIClient, order_place_must_not_run
) -> None:
    body = json.dumps({"lines": [{}] * 100_000}, separators=(",", ":")).encode()
    assert len(body) < ONE_MIB  # small enough to pass the size limit: the count must stop it

    detail = problem(post_raw(alice, ORDERS, body), status=400, type="malformed-request")["detail"]

    assert detail == "JSON parse error - more than 10000 values."


def test_fifty_one_order_lines_are_refused_by_validation_before_the_service_runs(
    alice: APIClient, order_place_must_not_run
) -> None:
    lines = [{**ARMCHAIR_LINE, "sku": f"CHAIR-{n}"} for n in range(51)]

    body = problem(alice.post(ORDERS, {"lines": lines}, format="json"), status=400, type="validation")

    assert body["errors"] == {"lines": {"non_field_errors": ["Ensure this field has no more than 50 elements."]}}


def test_a_hundred_thousand_unknown_fields_are_refused_by_the_parser_not_echoed_back() -> None:
    fields = {str(n): 0 for n in range(100_000)}
    body = json.dumps(fields, separators=(",", ":")).encode()
    assert len(body) < ONE_MIB

    response = post_raw(APIClient(), REGISTER, body)

    problem(response, status=400, type="malformed-request")
    assert len(response.content) < 1000
    assert not UserProfile.objects.exists()


def test_a_query_string_with_thousands_of_parameters_is_a_400(alice: APIClient) -> None:
    query = "&".join(f"status=confirmed&x{n}=1" for n in range(1000))
    response = alice.get(f"{ORDERS}?{query}")
    problem(response, status=400, type="bad-request")


def test_every_list_in_every_request_body_of_the_schema_has_a_maximum_length() -> None:
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    request_components = set()
    for item in schema["paths"].values():
        for operation in item.values():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                request_components.add(media["schema"]["$ref"].rsplit("/", 1)[-1])
    unbounded = []
    seen: set[str] = set()
    while request_components:
        name = request_components.pop()
        seen.add(name)
        for prop, spec in components[name].get("properties", {}).items():
            if spec.get("type") == "array" and "maxItems" not in spec:
                unbounded.append(f"{name}.{prop}")
            for ref in [spec.get("$ref"), spec.get("items", {}).get("$ref")]:
                if ref and (nested_name := ref.rsplit("/", 1)[-1]) not in seen:
                    request_components.add(nested_name)
    assert seen >= {"OrderPlace", "OrderLineInput", "Register", "Preferences"}
    assert unbounded == []


# --- Query values every database must survive ------------------------------------------------------


def test_a_date_filter_with_an_offset_postgresql_refuses_is_answered_not_a_500(alice: APIClient) -> None:
    """Found by schemathesis on PostgreSQL: "time zone displacement out of range" was a 500."""
    response = alice.get(
        ORDERS, {"created_after": "0044-02-08T14:34:13.175-20:14", "created_before": "2999-01-01T00:00Z"}
    )
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_a_date_filter_that_leaves_the_calendar_in_utc_is_a_400(alice: APIClient) -> None:
    response = alice.get(ORDERS, {"created_after": "0001-01-01T00:00:00+05:00"})
    body = problem(response, status=400, type="validation")
    assert body["errors"] == {"created_after": ["Out of range once converted to UTC."]}
