"""A DomainError raised by a service is mapped once, by the API's exception handler, to its problem document."""

from __future__ import annotations

import pytest
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from project.errors import DomainError, IllegalTransition

PROBLEM_JSON = "application/problem+json"
TYPES = "https://errors.shop.example/"


class ArmchairTooHeavy(DomainError):
    code = "armchair-too-heavy"
    field = "weight"


class ArmchairGone(DomainError):
    code = "armchair-gone"
    status = 410


class ColourAndSizeRefused(DomainError):
    code = "colour-and-size"

    def field_errors(self) -> dict[str, list[str]]:
        return {"colour": ["Red or green."], "size": ["Too big for the door."]}


REFUSALS: dict[str, DomainError] = {
    "with-field": ArmchairTooHeavy("No armchair weighs more than 80 kg."),
    "without-field": DomainError("The crunchy armchair cannot be ordered on a Sunday."),
    "many-fields": ColourAndSizeRefused("colour: Red or green. size: Too big for the door."),
    "transition": IllegalTransition("The crunchy armchair was already delivered."),
    "other-status": ArmchairGone("The crunchy armchair is no longer made."),
}


class RefusingView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def post(self, request: Request, kind: str) -> Response:
        raise REFUSALS[kind]


urlpatterns = [path("api/test/refuse/<str:kind>/", RefusingView.as_view())]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def refused(kind: str, status: int) -> dict:
    response = APIClient().post(f"/api/test/refuse/{kind}/")
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM_JSON
    body = response.json()
    assert body["instance"] == f"/api/test/refuse/{kind}/"
    assert body["correlation_id"] == response["X-Correlation-ID"]
    return body


def test_a_refusal_naming_a_field_is_a_validation_problem_with_that_fields_message() -> None:
    body = refused("with-field", 400)
    assert body["type"] == TYPES + "validation" and body["title"] == "Invalid request"
    assert body["errors"] == {"weight": ["No armchair weighs more than 80 kg."]}
    assert body["detail"] == "weight: No armchair weighs more than 80 kg."


def test_a_refusal_naming_no_field_is_a_validation_problem_about_the_request_as_a_whole() -> None:
    body = refused("without-field", 400)
    assert body["type"] == TYPES + "validation"
    assert body["errors"] == {"non_field_errors": ["The crunchy armchair cannot be ordered on a Sunday."]}
    assert body["detail"] == "The crunchy armchair cannot be ordered on a Sunday."


def test_a_refusal_naming_several_fields_keeps_each_fields_messages() -> None:
    body = refused("many-fields", 400)
    assert body["errors"] == {"colour": ["Red or green."], "size": ["Too big for the door."]}
    assert body["detail"] == "colour: Red or green. size: Too big for the door."


def test_an_illegal_transition_is_a_409_conflict_problem_without_field_errors() -> None:
    body = refused("transition", 409)
    assert body["type"] == TYPES + "conflict" and body["title"] == "Conflict"
    assert body["detail"] == "The crunchy armchair was already delivered."
    assert "errors" not in body


def test_a_status_without_a_problem_type_of_its_own_gets_the_type_named_after_the_code() -> None:
    body = refused("other-status", 410)
    assert body["type"] == TYPES + "armchair-gone" and body["title"] == "Gone"
    assert body["detail"] == "The crunchy armchair is no longer made."
