"""The API's documentation pages, served by this server alone: no CDN, no web fonts.

drf-spectacular-sidecar ships Swagger UI's and Redoc's files as static files (SIDECAR in
SPECTACULAR_SETTINGS). drf-spectacular's Redoc page still links Google Fonts; this one does not
(Redoc falls back to the browser's sans-serif), so the docs work offline and tell no third party
who reads them.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.template import engines
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


class RedocView(SpectacularRedocView):
    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        context = super().get(request, *args, **kwargs).data
        page = engines["django"].from_string(_REDOC_PAGE)
        return HttpResponse(page.render(context, request._request))
