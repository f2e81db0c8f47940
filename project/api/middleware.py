"""The API's edge: what must be answered before a view runs, or instead of Django's own answer.

Listed last in MIDDLEWARE, after CorrelationIdMiddleware, so that every answer here carries the
request's correlation id. The documents themselves come from project.api.errors.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, is_valid_path

from project.api.errors import body_too_large, is_api_request, outage_response, page_not_found, request_too_large


class EdgeMiddleware:
    """- A body over DATA_UPLOAD_MAX_MEMORY_SIZE: a 400 before any view or middleware reads it
      (Django would raise RequestDataTooBig there, and answer with its debug page under DEBUG
      and a traceback in the log either way).
    - An outage raised in a view under /api/: a 503 (``outage_response``), DEBUG on or off. One
      raised by a middleware reaches handler500 (``server_error``, the same 503), which Django
      calls only with DEBUG off: with it on, Django shows its traceback page then.
    - A URL no route matches under /api/, with DEBUG on: the 404 problem document rather than
      Django's technical 404 page (with DEBUG off, handler404 already answers it).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if body_too_large(request):
            return request_too_large(request)
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code == 404
            and is_api_request(request)
            and not is_valid_path(request.path_info, getattr(request, "urlconf", None))
        ):
            # Django logged the 404 when it answered it: this is the same answer, in another shape.
            logged = getattr(response, "_has_been_logged", False)
            response = page_not_found(request, Resolver404())
            response._has_been_logged = logged  # type: ignore[attr-defined]
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):  # a body read without a Content-Length check
            return request_too_large(request)
        return outage_response(request, exception)
