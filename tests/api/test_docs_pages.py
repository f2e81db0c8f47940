"""Swagger UI and Redoc come from this server's static files: no CDN, no web fonts, no online validator."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

URL_ATTRIBUTE = re.compile(r'(?:src|href|spec-url)="([^"]*)"|\burl: "([^"]*)"')


@pytest.mark.parametrize(
    ("page", "expected_asset"),
    [
        ("/api/docs/", "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"),
        ("/api/redoc/", "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"),
    ],
)
def test_the_api_docs_page_refers_only_to_this_servers_own_files(page: str, expected_asset: str) -> None:
    response = Client().get(page)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    for outsider in ("http://", "https://", "cdn.", "unpkg", "jsdelivr", "googleapis", "gstatic"):
        assert outsider not in html, f"{page} refers to {outsider}"
    urls = [a or b for a, b in URL_ATTRIBUTE.findall(html)]
    assert urls and all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assets = [url.removeprefix(settings.STATIC_URL) for url in urls if url.startswith(settings.STATIC_URL)]
    assert expected_asset in assets
    for asset in assets:
        assert finders.find(asset), f"{page} refers to {asset}, which no staticfiles finder has"


def test_swagger_ui_does_not_send_the_schema_to_the_online_validator() -> None:
    assert '"validatorUrl": null' in Client().get("/api/docs/").content.decode()


def test_the_schema_the_pages_load_is_served_to_anyone() -> None:
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi: 3." in response.content
