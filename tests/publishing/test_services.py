"""Publishing services against races the bus cannot stage."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from publishing import services
from publishing.models import PublicArticle
from tests.factories.publishing import PublicArticleFactory

pytestmark = pytest.mark.django_db


def show(article_id: uuid.UUID, revision: int, title: str) -> bool:
    return services.public_article_show(
        article_id=article_id,
        revision=revision,
        changed_at=timezone.now(),
        slug="the-wobbly-table",
        title=title,
        body="A table.",
        author_name="Grace Hopper",
    )


def test_a_copy_inserted_by_another_worker_meanwhile_is_compared_not_duplicated(monkeypatch) -> None:
    newer = PublicArticleFactory(revision=5, title="Inserted meanwhile")
    real = services._held_for_update
    calls = iter([None])  # the first look-up ran before the other worker's insert committed
    monkeypatch.setattr(services, "_held_for_update", lambda pk: next(calls, None) or real(pk))
    assert show(newer.article_id, 4, "Older") is False
    assert PublicArticle.objects.get().title == "Inserted meanwhile"


def test_a_copy_inserted_meanwhile_with_an_older_revision_is_updated(monkeypatch) -> None:
    older = PublicArticleFactory(revision=2, title="Inserted meanwhile")
    real = services._held_for_update
    calls = iter([None])
    monkeypatch.setattr(services, "_held_for_update", lambda pk: next(calls, None) or real(pk))
    assert show(older.article_id, 3, "Newer") is True
    assert (PublicArticle.objects.get().title, PublicArticle.objects.get().revision) == ("Newer", 3)


def test_the_same_revision_twice_is_applied_once() -> None:
    article_id = uuid.uuid4()
    assert show(article_id, 2, "The wobbly table") is True
    assert show(article_id, 2, "The wobbly table, a different text under the same revision") is False
    assert PublicArticle.objects.get().title == "The wobbly table"
