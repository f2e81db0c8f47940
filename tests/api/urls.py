"""The project's URLs plus a few views that raise what no real endpoint raises on demand."""

from __future__ import annotations

import socket

import kombu
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, ProgrammingError, connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from project.urls import handler400, handler403, handler404, handler500  # noqa: F401  (this URLconf's too)
from project.urls import urlpatterns as project_urlpatterns

SECRET_IN_THE_CRASH = "flux capacitor melted, password=hunter2"


class ArmchairSold(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class AlwaysRefused(BaseThrottle):
    def allow_request(self, request: Request, view: APIView) -> bool:
        return False

    def wait(self) -> float:
        return 42


class OpenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


class CrashView(OpenView):
    def get(self, request: Request) -> Response:
        raise RuntimeError(SECRET_IN_THE_CRASH)


class CrowdedView(OpenView):
    throttle_classes = [AlwaysRefused]

    def get(self, request: Request) -> Response:
        return Response({})


class SoldView(OpenView):
    def post(self, request: Request) -> Response:
        raise ArmchairSold("The crunchy armchair was sold a minute ago.")


class ModelRuleView(OpenView):
    def post(self, request: Request) -> Response:
        raise DjangoValidationError({"colour": ["Armchairs come in red or green."]})


class MissingTableView(OpenView):
    """A real database error that is a bug, not an outage (a migration not run, a typo)."""

    def get(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")
        return Response({})


class IntegrityBugView(OpenView):
    def get(self, request: Request) -> Response:
        raise IntegrityError("UNIQUE constraint failed: orders_order.id")


class ProgrammingBugView(OpenView):
    def get(self, request: Request) -> Response:
        raise ProgrammingError("column orders_order.colour does not exist")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class BrokerDownView(OpenView):
    """Publishing straight to a broker that refuses connections."""

    def post(self, request: Request) -> Response:
        with kombu.Connection(f"redis://127.0.0.1:{closed_port()}/0") as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
        return Response({})


def crashing_page(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a page outside the API crashed")


urlpatterns = [
    path("api/test/crash/", CrashView.as_view()),
    path("api/test/crowded/", CrowdedView.as_view()),
    path("api/test/sold/", SoldView.as_view()),
    path("api/test/model-rule/", ModelRuleView.as_view()),
    path("api/test/missing-table/", MissingTableView.as_view()),
    path("api/test/integrity-bug/", IntegrityBugView.as_view()),
    path("api/test/programming-bug/", ProgrammingBugView.as_view()),
    path("api/test/broker-down/", BrokerDownView.as_view()),
    path("pages/crash/", crashing_page),
    *project_urlpatterns,
]
