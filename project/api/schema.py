"""The OpenAPI schema's error responses, added to every operation by one AutoSchema.

Views declare only what is special to them (a 409, a 400 described in their own words); this
class adds the errors any endpoint can answer, each an ``application/problem+json`` document
(project.api.errors), and gives a body to declared error responses that have none:

- 400 for writes (POST/PUT/PATCH) and for reads that take query filters;
- 401 when the view authenticates (a wrong token is a 401 even where anonymous access is fine);
- 403 when a permission can refuse, or a session-authenticated write can fail its CSRF check;
- 404 for routes with path parameters, and for paginated lists (a page past the end);
- 429 when the view (or the viewset's action) has throttles;
- 500 and 503 everywhere (503: the database or the broker is unavailable, retry after
  Retry-After seconds).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated

from project.api.errors import PROBLEM_JSON

WRITE_METHODS = {"POST", "PUT", "PATCH"}


class ProblemSerializer(serializers.Serializer):
    """An error, as RFC 9457 describes it (application/problem+json)."""

    type = serializers.CharField(
        help_text="A URI naming the kind of error, stable: branch on it "
        "(https://errors.shop.example/not-found, .../validation...; about:blank when nothing more is known)."
    )
    title = serializers.CharField(help_text="A short summary of that kind of error.")
    status = serializers.IntegerField(help_text="The HTTP status code.")
    detail = serializers.CharField(help_text="What went wrong with this request, for a person.")
    instance = serializers.CharField(help_text="The path of the request.")
    correlation_id = serializers.UUIDField(
        required=False, help_text="The request's X-Correlation-ID: quote it when reporting the error."
    )


class ValidationProblemSerializer(ProblemSerializer):
    """An error about the request's input: `errors` says which fields failed and why."""

    errors = serializers.DictField(
        required=False,
        help_text='Each failing field -> its messages, nested like the input ({"lines": {"1": {"sku": ["..."]}}}); '
        "non_field_errors for the request as a whole. Absent when the body could not be parsed at all.",
    )


_INVALID = "Invalid input: `errors` names each field that failed and why. Nothing was changed."
_UNAUTHENTICATED = "No credentials, or credentials that are not valid (an unknown token)."
_FORBIDDEN = "Authenticated, but not allowed to do this."
_CSRF = "A session-authenticated write without a valid CSRF token."
_NOT_FOUND = "Not found, or not yours to see."
_NO_PAGE = "No such page: past the end of the list."
_THROTTLED = "Too many requests: wait for Retry-After seconds."
_SERVER_ERROR = "Unexpected server error: do not assume the request was carried out. Quote the correlation_id."
_UNAVAILABLE = "The database or the broker is unavailable (an outage, not a bug): try again after Retry-After seconds."
# For an error response a view declares without a description.
_DEFAULTS = {
    "400": _INVALID,
    "401": _UNAUTHENTICATED,
    "403": _FORBIDDEN,
    "404": _NOT_FOUND,
    "429": _THROTTLED,
    "500": _SERVER_ERROR,
    "503": _UNAVAILABLE,
}
_HEADERS: dict[str, dict[str, Any]] = {
    "401": {
        "WWW-Authenticate": {"schema": {"type": "string"}, "description": "How to authenticate: `Token`."},
    },
    "429": {
        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before trying again."},
    },
    "503": {
        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before trying again."},
    },
}


class ProblemAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the problem+json error responses of every operation,
    and two input limits DRF enforces that drf-spectacular leaves out of request bodies: a
    non-blank string has ``minLength: 1``, and a nested list (``many=True``) its ``minItems`` and
    ``maxItems`` (an order's 50 lines at most). Request bodies only: a component used both ways
    (no COMPONENT_SPLIT_REQUEST) is generated for the request first."""

    def _get_serializer_field_meta(self, field: Any, direction: str) -> dict[str, Any]:
        meta = super()._get_serializer_field_meta(field, direction)
        if direction == "request" and isinstance(field, serializers.CharField) and not field.allow_blank:
            meta.setdefault("minLength", 1)
        return meta

    def _map_serializer_field(self, field: Any, direction: str, bypass_extensions: bool = False) -> Any:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and schema is not None and isinstance(field, serializers.ListSerializer):
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
            min_items = field.min_length or (0 if field.allow_empty else 1)
            if min_items:
                schema["minItems"] = min_items
        return schema

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses: dict[str, Any] = operation["responses"]
        for code, description in self._possible_errors(operation).items():
            responses.setdefault(code, {"description": description})
        for code, response in responses.items():
            if code >= "400" and "content" not in response:
                responses[code] = self._problem_response(code, response.get("description", ""))
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _possible_errors(self, operation: dict[str, Any]) -> dict[str, str]:
        """Status code -> description, for the errors this operation can answer."""
        view = self.view
        authenticators = list(getattr(view, "authentication_classes", []))
        permissions = list(getattr(view, "permission_classes", []))
        query = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
        paging = {p["name"] for p in self._get_pagination_parameters()}
        errors = {"500": _SERVER_ERROR, "503": _UNAVAILABLE}
        if self.method in WRITE_METHODS or query - paging:
            errors["400"] = _INVALID
        if authenticators:
            errors["401"] = _UNAUTHENTICATED
        # IsAuthenticated refuses only the anonymous, and that is the 401 above.
        if any(p not in (AllowAny, IsAuthenticated) for p in permissions):
            errors["403"] = _FORBIDDEN
        elif self.method in WRITE_METHODS and any(issubclass(a, SessionAuthentication) for a in authenticators):
            errors["403"] = _CSRF
        if "{" in self.path:
            errors["404"] = _NOT_FOUND
        elif paging:
            errors["404"] = _NO_PAGE
        if self._throttles(view):
            errors["429"] = _THROTTLED
        return errors

    @staticmethod
    def _throttles(view: Any) -> list[Any]:
        """The view's throttles for this operation: a viewset may limit only some actions (its
        ``action`` is set per operation while the schema is generated)."""
        if hasattr(view, "get_throttles"):
            return list(view.get_throttles())
        return list(getattr(view, "throttle_classes", None) or [])

    def _problem_response(self, code: str, description: str) -> dict[str, Any]:
        serializer = ValidationProblemSerializer if code == "400" else ProblemSerializer
        response = self._get_response_for_code(serializer, code, media_types=[PROBLEM_JSON])
        response["description"] = description or _DEFAULTS.get(code, "")
        if code in _HEADERS:
            response["headers"] = {**_HEADERS[code], **response.get("headers", {})}
        return response
