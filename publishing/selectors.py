"""Reads of the public side. Only public copies are ever returned (tombstones never are).

Search: on PostgreSQL, full-text search (English stemming, title weighted above body, ranked)
using the GIN expression index of migration 0002; elsewhere (SQLite), every word of the query
must occur in the title or body, case-insensitively, newest first.
"""

from __future__ import annotations

import re
from uuid import UUID

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connections
from django.db.models import QuerySet

from publishing.models import PublicArticle

SEARCH_CONFIG = "english"


def search_vector() -> SearchVector:
    """The document PostgreSQL searches. Migration 0002 indexes this very expression: keep them equal."""
    return SearchVector("title", weight="A", config=SEARCH_CONFIG) + SearchVector(
        "body", weight="B", config=SEARCH_CONFIG
    )


def public_article_list() -> QuerySet[PublicArticle]:
    """Public articles, newest publication first."""
    return PublicArticle.objects.filter(is_public=True).order_by("-published_at", "article_id")


def public_article_latest(*, limit: int = 20) -> QuerySet[PublicArticle]:
    return public_article_list()[:limit]


def public_article_for_slug(slug: str) -> PublicArticle | None:
    # The newest wins if two public copies briefly share a slug (one article renamed, another
    # taking its old slug, their events applied in either order).
    return public_article_list().filter(slug=slug).first()


def public_article_search(query: str) -> QuerySet[PublicArticle]:
    """Public articles matching ``query``, best match first (see the module docstring)."""
    articles = public_article_list()
    if connections[articles.db].vendor == "postgresql":
        wanted = SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
        vector = search_vector()
        return (
            articles.alias(document=vector)
            .filter(document=wanted)
            .annotate(rank=SearchRank(vector, wanted))
            .order_by("-rank", "-published_at", "article_id")
        )
    words = re.findall(r"\w+", query.casefold())
    if not words:
        return articles.none()
    for word in words:
        articles = articles.filter(search_document__contains=word)
    return articles


def public_copy_facts() -> dict[UUID, str]:
    """For the reconciliation: every article the public sees -> its slug (publishing's own table only)."""
    return dict(PublicArticle.objects.filter(is_public=True).values_list("article_id", "slug"))
