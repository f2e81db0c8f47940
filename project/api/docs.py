"""The API's documentation pages, served by this server alone: no CDN, no web fonts, no logo
from a third party.

drf-spectacular-sidecar ships Swagger UI's and Redoc's files as static files (SIDECAR in
SPECTACULAR_SETTINGS). drf-spectacular's Redoc page still links Google Fonts; this one does not
(Redoc falls back to the browser's sans-serif). Redoc's bundle itself draws its side menu's
"API docs by Redocly" logo from cdn.redoc.ly, so this page loads the bundle through
``redoc_bundle``, which serves the sidecar's file with that image left out. The docs work offline
and tell no third party who reads them.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView
from rest_framework.request import Request

_REDOC_PAGE = """{% extends "drf_spectacular/redoc.html" %}
{% block head %}
<title>{{ title|default:"Redoc" }}</title>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body { margin: 0; padding: 0; }</style>
{% endblock head %}
"""
REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
# An image that fails to load: Redoc then draws no logo at all (its onError handler), and the
# browser asks nobody for it.
_NO_IMAGE = "data:,"


class RedocView(SpectacularRedocView):
    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        context = super().get(request, *args, **kwargs).data
        context["redoc_standalone"] = reverse("redoc-bundle")
        page = engines["django"].from_string(_REDOC_PAGE)
        return HttpResponse(page.render(context, request._request))


@functools.cache
def _redoc_bundle() -> bytes:
    path = finders.find(REDOC_BUNDLE)
    if not path:
        raise LookupError(f"{REDOC_BUNDLE} is not among the static files: is drf_spectacular_sidecar installed?")
    with open(path, "rb") as bundle:
        source = bundle.read()
    if REDOC_LOGO.encode() not in source:
        # A new Redoc release: its page may load something else from outside, look again.
        raise LookupError(f"{REDOC_BUNDLE} no longer refers to {REDOC_LOGO}: check what it loads now")
    # The bundle is served from another URL than its source map: point the map back at the static file.
    source_map = f"sourceMappingURL={static(REDOC_BUNDLE)}.map"
    return source.replace(REDOC_LOGO.encode(), _NO_IMAGE.encode()).replace(
        b"sourceMappingURL=redoc.standalone.js.map", source_map.encode()
    )


@require_safe
def redoc_bundle(request: HttpRequest) -> HttpResponse:
    """Redoc's bundle without its one request to a third party (the logo)."""
    response = HttpResponse(_redoc_bundle(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    return response
