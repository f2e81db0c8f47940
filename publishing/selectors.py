"""Reads of the public side. Only public copies are ever returned (tombstones never are).

Search: on PostgreSQL, full-text search (English stemming, title weighted above body, ranked)
using the GIN expression index of migration 0002; elsewhere (SQLite), every word of the query
must occur in the title or body, case-insensitively, newest first.
"""

from __future__ import annotations

import re
from uuid import UUID

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import QuerySet

from publishing.models import PublicArticle

SEARCH_CONFIG = "english"
# Articles per page of the public site (publishing/site/): a reader's screenful or two.
SITE_PAGE_SIZE = 10


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


def public_article_for_slug_or_id(key: str) -> PublicArticle | None:
    """The public article whose id (a UUID, as in the feeds' guid) or else whose slug is ``key``."""
    try:
        article_id = UUID(key)
    except ValueError:
        pass
    else:
        found = public_article_list().filter(pk=article_id).first()
        if found is not None:
            return found
    return public_article_for_slug(key)


def public_article_page(*, number: int | str | None, query: str = "", per_page: int = SITE_PAGE_SIZE) -> Page:
    """One page of the public list (newest first) or, with a ``query``, of its search results.

    ``number`` is the 1-based page (None: the first). Raises ``django.core.paginator.InvalidPage``
    for a number that is not a page (not an integer, or past the last page); the first page of an
    empty list exists (and is empty).
    """
    articles = public_article_search(query) if query.strip() else public_article_list()
    return Paginator(articles, per_page).page(1 if number is None else number)


def public_copy_facts() -> dict[UUID, str]:
    """For the reconciliation: every article the public sees -> its slug (publishing's own table only)."""
    return dict(PublicArticle.objects.filter(is_public=True).values_list("article_id", "slug"))
