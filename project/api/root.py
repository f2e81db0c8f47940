"""``GET /api/``: the API's entry point, a link to each of its endpoints (and a page of the
browsable API from which a person can follow them)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

# Link name -> URL name. Collections and entry points only: a URL that needs an id (an order,
# a correlation's timeline) is reached from the collections or the schema.
ENDPOINTS: dict[str, tuple[str, str]] = {
    "orders": ("order-list", "Your orders (staff: everyone's); POST places one."),
    "products": ("product-list", "Products and their stock."),
    "articles": ("article-list", "Articles you write (staff: everyone's)."),
    "public_articles": ("public-article-list", "Published articles, for anyone: list, search and detail."),
    "notifications": ("notification-list", "Notifications sent to you."),
    "register": ("user-register", "Open an account."),
    "me": ("user-me", "Your account and profile."),
    "token": ("api-token", "Exchange a username and password for an API token."),
    "schema": ("schema", "The OpenAPI schema."),
    "docs": ("swagger-ui", "The API's documentation (Swagger UI)."),
    "redoc": ("redoc", "The API's documentation (Redoc)."),
}


class ApiRootView(APIView):
    """The links to every endpoint. Open to anyone: it says no more than the schema does."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="api_root",
        summary="Links to the API's endpoints",
        responses=inline_serializer(
            "ApiRoot", {name: serializers.URLField(help_text=about) for name, (_, about) in ENDPOINTS.items()}
        ),
    )
    def get(self, request: Request) -> Response:
        return Response({name: reverse(url_name, request=request) for name, (url_name, _) in ENDPOINTS.items()})
