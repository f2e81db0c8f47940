from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from articles.models import Article


def article_list_for(user: AbstractBaseUser) -> QuerySet[Article]:
    """Staff see every article; an author only their own (others' do not exist for them)."""
    articles = Article.objects.all()
    return articles if user.is_staff else articles.filter(author_id=user.pk)


@dataclass(frozen=True)
class SettledArticle:
    slug: str
    status: str
    published: bool


@dataclass(frozen=True)
class ArticleFacts:
    """What authoring holds that the public copy must agree with: plain values, no models."""

    settled: dict[UUID, SettledArticle]  # every article last changed before the cut-off
    article_ids: set[UUID]  # every article authoring has, settled or not


def article_facts(*, settled_before: datetime) -> ArticleFacts:
    """The reconciliation's view of authoring, read from articles' own table only."""
    settled = Article.objects.filter(updated_at__lt=settled_before).values_list("pk", "slug", "status")
    return ArticleFacts(
        settled={
            pk: SettledArticle(slug, status, status == Article.Status.PUBLISHED)
            for pk, slug, status in settled.iterator(chunk_size=2000)
        },
        article_ids=set(Article.objects.values_list("pk", flat=True)),
    )
