"""The public API: read-only, anonymous, public copies only, newest first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from publishing.models import PublicArticle
from tests.factories.publishing import PublicArticleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


def test_anyone_lists_public_articles_newest_first_without_withdrawn_ones(anonymous: APIClient) -> None:
    now = timezone.now()
    PublicArticleFactory(title="The crunchy armchair", published_at=now - timedelta(days=2))
    PublicArticleFactory(title="The shiny lamp", published_at=now)
    PublicArticleFactory(title="", slug="gone", is_public=False, published_at=now + timedelta(days=1))
    response = anonymous.get("/api/public/articles/")
    assert response.status_code == 200
    assert [a["title"] for a in response.json()["results"]] == ["The shiny lamp", "The crunchy armchair"]
    assert set(response.json()["results"][0]) == {
        "article_id",
        "slug",
        "title",
        "body",
        "author_name",
        "revision",
        "published_at",
    }


def test_the_list_is_paginated(anonymous: APIClient) -> None:
    PublicArticleFactory.create_batch(3)
    first = anonymous.get("/api/public/articles/", {"page_size": 2}).json()
    assert (first["count"], len(first["results"]), first["next"] is not None) == (3, 2, True)
    second = anonymous.get(first["next"]).json()
    assert len(second["results"]) == 1


def test_anyone_reads_a_public_article_by_its_slug(anonymous: APIClient) -> None:
    PublicArticleFactory(slug="the-wobbly-table", title="The wobbly table", author_name="Grace Hopper")
    response = anonymous.get("/api/public/articles/the-wobbly-table/")
    assert response.status_code == 200
    assert (response.json()["title"], response.json()["author_name"]) == ("The wobbly table", "Grace Hopper")


def test_a_withdrawn_or_unknown_slug_is_a_404(anonymous: APIClient) -> None:
    PublicArticleFactory(slug="gone", is_public=False)
    assert anonymous.get("/api/public/articles/gone/").status_code == 404
    assert anonymous.get("/api/public/articles/never-was/").status_code == 404


def test_a_stale_token_does_not_stop_anyone_reading(anonymous: APIClient) -> None:
    PublicArticleFactory()
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anonymous.get("/api/public/articles/").status_code == 200


def test_anyone_searches_public_articles(anonymous: APIClient) -> None:
    PublicArticleFactory(title="The crunchy armchair", body="It crunches.")
    PublicArticleFactory(title="The shiny lamp", body="It shines.")
    response = anonymous.get("/api/public/articles/search/", {"q": "armchair"})
    assert response.status_code == 200
    assert [a["title"] for a in response.json()["results"]] == ["The crunchy armchair"]


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}])
def test_a_search_without_words_is_a_400_naming_q(anonymous: APIClient, params: dict) -> None:
    response = anonymous.get("/api/public/articles/search/", params)
    assert response.status_code == 400
    assert "q" in response.json()["errors"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_public_api_refuses_writes_and_changes_nothing(anonymous: APIClient, method: str) -> None:
    article = PublicArticleFactory(slug="the-wobbly-table", title="The wobbly table")
    list_response = getattr(anonymous, method)("/api/public/articles/", {"title": "Defaced"}, format="json")
    detail_response = getattr(anonymous, method)(
        "/api/public/articles/the-wobbly-table/", {"title": "Defaced"}, format="json"
    )
    assert (list_response.status_code, detail_response.status_code) == (405, 405)
    assert PublicArticle.objects.get(pk=article.pk).title == "The wobbly table"
