"""Swagger UI and Redoc come from this server's static files: no CDN, no web fonts, no online
validator, and no script they load fetches anything from elsewhere (Redoc's logo)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

URL_ATTRIBUTE = re.compile(r'(?:src|href|spec-url)="([^"]*)"|\burl: "([^"]*)"')
# What makes a browser fetch from another host: an element's src (React's src:"..." too), a CSS
# url() or @import. Links a person may follow (href) and JSON Schema ids are not fetched.
EXTERNAL_LOAD = re.compile(
    rb"""src\s*[:=]\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import\s+["']?(?:https?:)?//"""
)
DOCS_PAGES = ["/api/docs/", "/api/redoc/"]


@pytest.mark.parametrize(
    ("page", "expected_asset"),
    [
        ("/api/docs/", "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"),
        ("/api/redoc/", "/api/redoc/redoc.standalone.js"),
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
    assert expected_asset in [url.removeprefix(settings.STATIC_URL) for url in urls]
    assets = [url.removeprefix(settings.STATIC_URL) for url in urls if url.startswith(settings.STATIC_URL)]
    for asset in assets:
        assert finders.find(asset), f"{page} refers to {asset}, which no staticfiles finder has"


def test_swagger_ui_does_not_send_the_schema_to_the_online_validator() -> None:
    assert '"validatorUrl": null' in Client().get("/api/docs/").content.decode()


def test_the_schema_the_pages_load_is_served_to_anyone() -> None:
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi: 3." in response.content


def loaded_files(page: str) -> dict[str, bytes]:
    """Every script and stylesheet the page loads, as this server serves it."""
    html = Client().get(page).content.decode()
    files = {}
    for url in (a for a, _ in URL_ATTRIBUTE.findall(html) if a):
        if url.startswith(settings.STATIC_URL):
            path = finders.find(url.removeprefix(settings.STATIC_URL))
            assert path, url
            with open(path, "rb") as static_file:
                files[url] = static_file.read()
        elif not url.startswith("/api/schema/"):
            response = Client().get(url)
            assert response.status_code == 200, url
            files[url] = response.content
    return files


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_no_script_or_stylesheet_of_a_docs_page_loads_anything_from_another_host(page: str) -> None:
    files = loaded_files(page)
    assert any(url.endswith(".js") for url in files), files.keys()
    for url, content in files.items():
        found = [m.group(0) for m in EXTERNAL_LOAD.finditer(content)]
        assert not found, f"{page} loads {url}, which loads {found} from elsewhere"


def test_redoc_draws_no_logo_from_its_cdn() -> None:
    bundle = Client().get("/api/redoc/redoc.standalone.js")
    assert bundle.status_code == 200
    assert bundle["Content-Type"].startswith("text/javascript")
    assert b"cdn.redoc.ly" not in bundle.content
    # Its last line names its source map, which stayed a static file.
    source_map = bundle.content.rstrip().rsplit(b"\n", 1)[-1].decode()
    assert source_map.startswith(f"//# sourceMappingURL={settings.STATIC_URL}")
    assert finders.find(source_map.split("=", 1)[1].removeprefix(settings.STATIC_URL))
