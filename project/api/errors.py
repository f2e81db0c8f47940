"""Errors of the HTTP API as ``application/problem+json`` documents (RFC 9457).

Every error a client of ``/api/`` gets has one shape::

    {
      "type": "https://errors.shop.example/validation",
      "title": "Invalid request",
      "status": 400,
      "detail": "lines: Unknown sku: GHOST-SOFA.",
      "instance": "/api/orders/",
      "correlation_id": "5b0c7d0e-...",
      "errors": {"lines": ["Unknown sku: GHOST-SOFA."]}
    }

``type`` is stable per kind of error: clients branch on it, never on ``title`` or ``detail``.
``errors`` (validation errors only) keeps DRF's field -> messages mapping, nested as the input
was. A domain error (project.errors.DomainError, raised by a model or a service) is mapped here
and nowhere else: its status, the type DRF's own errors of that status have (400 validation,
404 not-found, 409 conflict; another status gets a type named after the error's code), and
``errors`` naming the input at fault (a 400 always has it, as a serializer's refusal does).
``correlation_id`` is the request's X-Correlation-ID: it is in the logs and on every event
the request caused, so one id finds everything about a failed request.

Wiring (project/settings.py and project/urls.py):

- ``problem_exception_handler`` is DRF's EXCEPTION_HANDLER: errors raised in API views.
- ``bad_request``, ``permission_denied``, ``page_not_found`` and ``server_error`` are the root
  URLconf's handler400/403/404/500: errors Django answers itself (a URL no route matches, a body
  over DATA_UPLOAD_MAX_MEMORY_SIZE, an exception no view handled). They answer problem documents
  under /api/ only and leave every other page to Django's own views. An unexpected exception in
  an API view goes that way too, so Django still logs it, signals it (got_request_exception, for
  error trackers) and, with DEBUG on, shows its traceback page.
- ``EdgeMiddleware`` (project/api/middleware.py) answers what must not wait for a view, or must
  not reach Django's own answer (a traceback page with DEBUG on, a traceback in the log): a body
  over DATA_UPLOAD_MAX_MEMORY_SIZE is refused before any view runs (``body_too_large``), an
  outage raised in a view is a 503 (``outage_response``), and a URL no route matches is a 404
  problem even with DEBUG on.

An outage is not a bug: a database that refuses connections or lost one, a broker that is down
while publishing. It is a 503 ``service-unavailable`` with ``Retry-After``, logged as one WARNING
line without a traceback, so that a client can tell it from a 500 and retry, and an operator's
log is not a wall of identical tracebacks. Everything else the database says (a missing table, a
syntax error, an integrity error) stays a 500: waiting will not fix it.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import sys
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import kombu.exceptions
import redis.exceptions
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.log import log_response
from django.views import defaults
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from project.errors import DomainError

PROBLEM_JSON = "application/problem+json"
ERROR_TYPE_BASE = "https://errors.shop.example/"
API_PREFIX = "/api/"
MAX_SUMMARISED_ERRORS = 10

# The `default_code` of DRF's exception classes -> (problem type, title). A project exception
# class not listed here gets the type named after its own default_code ("conflict" ->
# .../conflict) and its status's reason phrase as title; a bare APIException gets about:blank.
_TYPES: dict[str, tuple[str, str]] = {
    "invalid": ("validation", "Invalid request"),
    "parse_error": ("malformed-request", "Malformed request"),
    "not_authenticated": ("not-authenticated", "Authentication required"),
    "authentication_failed": ("authentication-failed", "Authentication failed"),
    "permission_denied": ("permission-denied", "Permission denied"),
    "not_found": ("not-found", "Not found"),
    "method_not_allowed": ("method-not-allowed", "Method not allowed"),
    "not_acceptable": ("not-acceptable", "Not acceptable"),
    "unsupported_media_type": ("unsupported-media-type", "Unsupported media type"),
    "throttled": ("throttled", "Too many requests"),
}
SERVER_ERROR = ("server-error", "Internal server error")
# A domain error's status -> the problem type of DRF's own exceptions of that status, so that a
# business rule's refusal reads like a serializer's (400) or a view's (404, 409).
_DOMAIN_TYPES: dict[int, tuple[str, str]] = {
    400: _TYPES["invalid"],
    404: _TYPES["not_found"],
    409: ("conflict", "Conflict"),
}
BAD_REQUEST = ("bad-request", "Bad request")
SERVICE_UNAVAILABLE = ("service-unavailable", "Service unavailable")
# Long enough for a restarting database or broker not to be hammered, short enough that clients
# come back soon after it is up.
OUTAGE_RETRY_AFTER_SECONDS = 5

# SQLite raises OperationalError for a missing table or a syntax error too: only these primary
# result codes say the database cannot be used right now.
_SQLITE_UNAVAILABLE = {
    sqlite3.SQLITE_BUSY,  # the write lock stayed taken past the busy timeout
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
}
# The same, for an error that carries no driver error (raised by project.db.backends.sqlite3).
_UNAVAILABLE_MESSAGES = (
    "database is locked",
    "database table is locked",
    "unable to open database file",
    "disk I/O error",
    "database or disk is full",
)
# PostgreSQL SQLSTATE classes of an outage: connection exception, insufficient resources (too
# many connections, disk full), operator intervention (shutdown, "cannot connect now"). A
# deadlock, a serialization failure or a statement timeout is not the database being down.
_POSTGRES_UNAVAILABLE = ("08", "53", "57P")
# Publishing while Redis is down: kombu's wrapper, or redis-py's own errors where kombu lets them through.
_BROKER_UNAVAILABLE = (
    kombu.exceptions.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def type_uri(slug: str) -> str:
    return ERROR_TYPE_BASE + slug


def problem(request: HttpRequest, *, status: int, type: str, title: str, detail: str, **members: Any) -> dict[str, Any]:
    """A problem document about ``request``; ``members`` are extensions such as ``errors``."""
    document: dict[str, Any] = {
        "type": type,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    correlation_id = getattr(request, "correlation_id", None)  # set by CorrelationIdMiddleware
    if correlation_id is not None:
        document["correlation_id"] = str(correlation_id)
    document.update(members)
    return document


# --- Errors raised in DRF views -----------------------------------------------------------------


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: DRF's own handling (status, headers, rollback), problem body.

    A ``DomainError`` (a business rule's refusal) becomes its own problem document. Returns None
    for an exception that is not a client error, so that Django answers it (``server_error``) as
    it answers any unhandled exception.
    """
    request = context["request"]
    if isinstance(exc, DomainError):
        set_rollback()  # as DRF does for its own exceptions (ATOMIC_REQUESTS)
        response = Response(_document_for_domain_error(exc, request), status=exc.status)
    else:
        if isinstance(exc, Http404):
            exc = exceptions.NotFound(*exc.args)
        elif isinstance(exc, DjangoPermissionDenied):
            exc = exceptions.PermissionDenied(*exc.args)
        elif isinstance(exc, DjangoValidationError):
            # A model's full_clean() or a lookup with a malformed value (an invalid UUID) is bad input.
            exc = exceptions.ValidationError(as_serializer_error(exc))
        response = drf_exception_handler(exc, context)
        if response is None:
            return None
        assert isinstance(exc, exceptions.APIException)  # drf_exception_handler answers nothing else
        response.data = _document_for_api_exception(exc, request, response.status_code)
    if _renders_json(context):
        # The browsable API (text/html) keeps its renderer; the document is the same.
        response.content_type = PROBLEM_JSON
    return response


def _document_for_api_exception(exc: exceptions.APIException, request: Any, status: int) -> dict[str, Any]:
    code = type(exc).default_code
    if code in _TYPES:
        slug, title = _TYPES[code]
        uri = type_uri(slug)
    elif code == exceptions.APIException.default_code:
        uri, title = "about:blank", _phrase(status)
    else:
        uri, title = type_uri(code.replace("_", "-")), _phrase(status)
    if isinstance(exc.detail, dict | list):
        errors = exc.detail if isinstance(exc.detail, dict) else {api_settings.NON_FIELD_ERRORS_KEY: exc.detail}
        return problem(request, status=status, type=uri, title=title, detail=_summary(errors), errors=errors)
    return problem(request, status=status, type=uri, title=title, detail=str(exc.detail))


def _document_for_domain_error(exc: DomainError, request: Any) -> dict[str, Any]:
    slug, title = _DOMAIN_TYPES.get(exc.status) or (exc.code, _phrase(exc.status))
    errors: dict[str, Any] = exc.field_errors()
    if not errors and exc.status == 400:
        errors = {api_settings.NON_FIELD_ERRORS_KEY: [exc.message]}
    if errors:
        return problem(
            request, status=exc.status, type=type_uri(slug), title=title, detail=_summary(errors), errors=errors
        )
    return problem(request, status=exc.status, type=type_uri(slug), title=title, detail=exc.message)


def _renders_json(context: dict[str, Any]) -> bool:
    """Whether the response will be rendered by a JSON renderer (the negotiated one, or the
    first of the view's, which DRF falls back to when negotiation itself failed)."""
    renderer = getattr(context.get("request"), "accepted_renderer", None)
    view = context.get("view")
    if renderer is None and view is not None:
        renderers = view.get_renderers()
        renderer = renderers[0] if renderers else None
    return isinstance(renderer, JSONRenderer)


def _summary(errors: dict[str, Any]) -> str:
    """One line naming each failing field and its message: ``lines.1.sku: Use capitals...``."""
    found = list(_flatten(errors, ""))
    parts = [f"{path}: {message}" if path else message for path, message in found[:MAX_SUMMARISED_ERRORS]]
    if len(found) > MAX_SUMMARISED_ERRORS:
        parts.append(f"(and {len(found) - MAX_SUMMARISED_ERRORS} more, see errors)")
    return " ".join(parts) or "Invalid input."


def _flatten(errors: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(errors, dict):
        for key, value in errors.items():
            key = "" if key == api_settings.NON_FIELD_ERRORS_KEY and not path else str(key)
            yield from _flatten(value, f"{path}.{key}" if path and key else path or key)
    elif isinstance(errors, list) and any(isinstance(item, dict | list) for item in errors):
        # A ListField's errors, or (older DRF) a list serializer's: one entry per item, {} if valid.
        for index, item in enumerate(errors):
            yield from _flatten(item, f"{path}.{index}" if path else str(index))
    elif isinstance(errors, list):
        for message in errors:
            yield path, str(message)
    else:
        yield path, str(errors)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# --- Errors Django answers itself (root URLconf handlers) ----------------------------------------


def is_api_request(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _problem_response(request: HttpRequest, status: int, kind: tuple[str, str], detail: str) -> HttpResponse:
    slug, title = kind
    document = problem(request, status=status, type=type_uri(slug), title=title, detail=detail)
    return JsonResponse(
        document, status=status, content_type=PROBLEM_JSON, json_dumps_params={"separators": (",", ":")}
    )


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api_request(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return _problem_response(request, 400, BAD_REQUEST, "The request body is larger than this API accepts.")
    # Like Django's own 400 page, say nothing of the reason: it may quote hostile input.
    return _problem_response(request, 400, BAD_REQUEST, "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api_request(request):
        return defaults.permission_denied(request, exception)
    return _problem_response(
        request, 403, _TYPES["permission_denied"], "You do not have permission to perform this action."
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api_request(request):
        return defaults.page_not_found(request, exception)
    return _problem_response(request, 404, _TYPES["not_found"], "No API endpoint has this URL.")


def too_many_requests(request: HttpRequest, wait: float | None) -> HttpResponse:
    """A throttled plain Django view (a login form): problem+json under /api/, text elsewhere."""
    retry_after = str(max(1, math.ceil(wait))) if wait is not None else None
    if is_api_request(request):
        response = _problem_response(request, 429, _TYPES["throttled"], "Too many attempts: wait before trying again.")
    else:
        response = HttpResponse("Too many attempts: wait before trying again.\n", status=429, content_type="text/plain")
    if retry_after is not None:
        response["Retry-After"] = retry_after
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    if not is_api_request(request):
        return defaults.server_error(request)
    # Django calls this while handling the exception (one raised outside any view: a middleware).
    exc = sys.exc_info()[1]
    if exc is not None and (response := outage_response(request, exc)) is not None:
        return response
    detail = "The server failed to answer this request."
    if getattr(request, "correlation_id", None) is not None:
        detail += " Quote the correlation_id when reporting it."
    return _problem_response(request, 500, SERVER_ERROR, detail)


def body_too_large(request: HttpRequest) -> bool:
    """Whether the request announces a body over DATA_UPLOAD_MAX_MEMORY_SIZE (Django would raise
    RequestDataTooBig when it is read). Without a Content-Length Django reads no body at all."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False  # Django reads no body of an unreadable length either
    return limit is not None and length > limit


def request_too_large(request: HttpRequest) -> HttpResponse:
    """The 400 of a body over the limit (problem+json under /api/, Django's page elsewhere),
    logged as one line on the logger Django uses for it, without the traceback."""
    response = bad_request(request, RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE."))
    log_response(
        "Bad Request: %s (a body of %s bytes, over DATA_UPLOAD_MAX_MEMORY_SIZE)",
        request.path,
        request.META.get("CONTENT_LENGTH", "?"),
        response=response,
        request=request,
        level="warning",
        logger=_security_logger("RequestDataTooBig"),
    )
    return response


def unavailable_service(exc: BaseException) -> str | None:
    """``"database"`` or ``"broker"`` when ``exc`` says that service cannot be reached now;
    None for anything else, which is a bug or a refusal and keeps its own answer."""
    if isinstance(exc, InterfaceError):  # the connection is closed or unusable
        return "database"
    if isinstance(exc, OperationalError):
        return "database" if _database_unavailable(exc) else None
    if isinstance(exc, _BROKER_UNAVAILABLE):
        return "broker"
    return None


def _database_unavailable(exc: OperationalError) -> bool:
    cause = exc.__cause__
    if isinstance(cause, sqlite3.Error) and getattr(cause, "sqlite_errorcode", None) is not None:
        return cause.sqlite_errorcode & 0xFF in _SQLITE_UNAVAILABLE  # extended codes keep the primary in the low byte
    if cause is not None and hasattr(cause, "sqlstate"):  # psycopg
        # No SQLSTATE: the client library's own failure (connection refused, server closed the connection).
        return cause.sqlstate is None or cause.sqlstate.startswith(_POSTGRES_UNAVAILABLE)
    return str(exc).startswith(_UNAVAILABLE_MESSAGES)


def outage_response(request: HttpRequest, exc: BaseException) -> HttpResponse | None:
    """The 503 problem document for an outage under /api/, logged as one WARNING line; None when
    ``exc`` is no outage or the request is not an API request."""
    service = unavailable_service(exc)
    if service is None or not is_api_request(request):
        return None
    response = _problem_response(
        request,
        503,
        SERVICE_UNAVAILABLE,
        f"The {service} is unavailable at the moment: try again after Retry-After seconds.",
    )
    response["Retry-After"] = str(OUTAGE_RETRY_AFTER_SECONDS)
    reason = (str(exc).strip().splitlines() or [""])[0]
    log_response(
        "Service Unavailable: %s (%s unavailable: %s: %s)",
        request.path,
        service,
        type(exc).__name__,
        reason,
        response=response,
        request=request,
        level="warning",
    )
    return response


def _security_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"django.security.{name}")
