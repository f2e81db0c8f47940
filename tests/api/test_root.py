"""GET /api/ lists the endpoints (JSON, and a page of the browsable API); every URL under /api/
that no route matches is a 404 problem document, DEBUG on or off."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PROBLEM_JSON = "application/problem+json"


def test_the_api_root_links_every_endpoint_for_anyone() -> None:
    response = APIClient().get("/api/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    links = response.json()
    expected = {"orders", "products", "articles", "public_articles", "notifications", "register", "me", "token"}
    assert expected <= set(links)
    assert links["orders"] == "http://testserver/api/orders/"
    for name, url in links.items():
        followed = APIClient().get(urlsplit(url).path)
        assert followed.status_code in (200, 401, 405), (name, url, followed.status_code)


def test_the_api_root_is_a_page_of_the_browsable_api() -> None:
    response = APIClient().get("/api/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert 'href="http://testserver/api/orders/"' in response.content.decode()


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("path", ["/api/no-such-thing/", "/api/nothing", "/api/orders/x/y/z/", "/api/v2/orders/"])
def test_a_url_no_api_route_matches_is_a_404_problem(debug: bool, path: str) -> None:
    with override_settings(DEBUG=debug):
        response = APIClient().get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM_JSON
    document = response.json()
    assert document["type"] == "https://errors.shop.example/not-found"
    assert document["detail"] == "No API endpoint has this URL."
    assert document["correlation_id"] == response["X-Correlation-ID"]


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_a_route_without_its_trailing_slash_still_redirects_to_it(debug: bool) -> None:
    with override_settings(DEBUG=debug):
        response = APIClient().get("/api/orders")
    assert (response.status_code, response["Location"]) == (301, "/api/orders/")


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_pages_outside_the_api_keep_djangos_404(debug: bool) -> None:
    with override_settings(DEBUG=debug):
        response = APIClient().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
