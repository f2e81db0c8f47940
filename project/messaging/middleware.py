"""Carries an ``X-Correlation-ID`` from the HTTP request into every event it causes."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse

from project.messaging.contract.context import correlation

HEADER = "X-Correlation-ID"


class CorrelationIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            correlation_id = uuid.UUID(request.headers.get(HEADER, ""))
        except ValueError:
            correlation_id = uuid.uuid4()
        request.correlation_id = correlation_id
        with (
            correlation(correlation_id),
            structlog.contextvars.bound_contextvars(correlation_id=str(correlation_id), request_path=request.path),
        ):
            response = self.get_response(request)
        response[HEADER] = str(correlation_id)
        return response
