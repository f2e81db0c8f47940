"""The project's URLs plus a few views that raise what no real endpoint raises on demand."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
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


def crashing_page(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a page outside the API crashed")


urlpatterns = [
    path("api/test/crash/", CrashView.as_view()),
    path("api/test/crowded/", CrowdedView.as_view()),
    path("api/test/sold/", SoldView.as_view()),
    path("api/test/model-rule/", ModelRuleView.as_view()),
    path("pages/crash/", crashing_page),
    *project_urlpatterns,
]
