"""Articles services: each change commits with the event it announces, or neither happens."""

from __future__ import annotations

import pytest

from articles import services
from articles.models import Article, ArticleError
from project.errors import IllegalTransition
from project.messaging.testing import TestBus
from tests.factories.articles import ArticleFactory
from tests.messaging_rows import outbox_events

pytestmark = pytest.mark.django_db


def announced() -> list[tuple[str, dict]]:
    return [(e.event_type, e.payload) for e in outbox_events("articles").order_by("occurred_at")]


def write_armchair(**overrides) -> Article:
    fields = {
        "author_id": 11,
        "author_name": "Ada Quill",
        "title": "The crunchy armchair",
        "body": "An armchair that crunches when you sit on it.",
    }
    return services.article_create(**{**fields, **overrides})


def test_creating_an_article_starts_a_draft_with_a_slug_from_its_title_and_announces_nothing(bus: TestBus) -> None:
    article = write_armchair()
    assert (article.status, article.slug, article.revision, article.author_name) == (
        "draft",
        "the-crunchy-armchair",
        1,
        "Ada Quill",
    )
    assert announced() == []


def test_creating_an_article_with_a_slug_already_taken_is_refused_naming_the_slug(bus: TestBus) -> None:
    write_armchair()
    with pytest.raises(ArticleError, match="already used") as refused:
        write_armchair(title="Another armchair", slug="the-crunchy-armchair")
    assert refused.value.field == "slug"
    assert Article.objects.count() == 1


def test_publishing_a_draft_announces_article_published_with_its_full_content(bus: TestBus) -> None:
    article = write_armchair()
    published = services.article_publish(article_id=article.pk)
    assert published.status == "published"
    [(event_type, payload)] = announced()
    assert event_type == "articles.ArticlePublished"
    assert payload == {
        "article_id": str(article.pk),
        "slug": "the-crunchy-armchair",
        "title": "The crunchy armchair",
        "body": "An armchair that crunches when you sit on it.",
        "author_id": 11,
        "author_name": "Ada Quill",
        "revision": 2,
        "published_at": payload["published_at"],
    }
    assert outbox_events("articles").get().aggregate_version == 2


def test_publishing_twice_is_refused_and_announces_once(bus: TestBus) -> None:
    article = write_armchair()
    services.article_publish(article_id=article.pk)
    with pytest.raises(IllegalTransition):
        services.article_publish(article_id=article.pk)
    assert [t for t, _ in announced()] == ["articles.ArticlePublished"]
    assert Article.objects.get().revision == 2


def test_editing_a_draft_changes_it_without_announcing_anything(bus: TestBus) -> None:
    article = write_armchair()
    edited = services.article_edit(article_id=article.pk, body="It crunches, and squeaks.", slug="squeaky-armchair")
    assert (edited.body, edited.slug, edited.revision) == ("It crunches, and squeaks.", "squeaky-armchair", 2)
    assert Article.objects.get().slug == "squeaky-armchair"
    assert announced() == []


def test_revising_a_published_article_bumps_its_revision_and_announces_article_revised(bus: TestBus) -> None:
    article = write_armchair()
    services.article_publish(article_id=article.pk)
    revised = services.article_edit(article_id=article.pk, title="The crunchy armchair, revisited")
    assert revised.revision == 3
    event_type, payload = announced()[-1]
    assert event_type == "articles.ArticleRevised"
    assert (payload["title"], payload["revision"], payload["author_name"]) == (
        "The crunchy armchair, revisited",
        3,
        "Ada Quill",
    )
    assert payload["published_at"] is not None


def test_an_edit_that_changes_nothing_announces_nothing(bus: TestBus) -> None:
    article = write_armchair()
    services.article_publish(article_id=article.pk)
    services.article_edit(article_id=article.pk, title="The crunchy armchair")
    assert [t for t, _ in announced()] == ["articles.ArticlePublished"]
    assert Article.objects.get().revision == 2


def test_a_refused_edit_changes_nothing_and_announces_nothing(bus: TestBus) -> None:
    article = write_armchair()
    services.article_publish(article_id=article.pk)
    with pytest.raises(ArticleError):
        services.article_edit(article_id=article.pk, body="New body", slug="a-new-address")
    stored = Article.objects.get()
    assert (stored.body, stored.slug, stored.revision) == (
        "An armchair that crunches when you sit on it.",
        "the-crunchy-armchair",
        2,
    )
    assert len(announced()) == 1


def test_renaming_a_draft_to_a_slug_already_taken_is_refused_naming_the_slug(bus: TestBus) -> None:
    ArticleFactory(slug="the-shiny-lamp")
    article = write_armchair()
    with pytest.raises(ArticleError) as refused:
        services.article_edit(article_id=article.pk, slug="the-shiny-lamp")
    assert refused.value.field == "slug"
    assert Article.objects.get(pk=article.pk).slug == "the-crunchy-armchair"


def test_unpublishing_announces_article_unpublished_with_a_newer_revision(bus: TestBus) -> None:
    article = write_armchair()
    services.article_publish(article_id=article.pk)
    services.article_unpublish(article_id=article.pk)
    event_type, payload = announced()[-1]
    assert (event_type, payload) == (
        "articles.ArticleUnpublished",
        {"article_id": str(article.pk), "slug": "the-crunchy-armchair", "revision": 3},
    )
    assert Article.objects.get().status == "unpublished"


def test_unpublishing_a_draft_is_refused_and_announces_nothing(bus: TestBus) -> None:
    article = write_armchair()
    with pytest.raises(IllegalTransition):
        services.article_unpublish(article_id=article.pk)
    assert announced() == []
    assert Article.objects.get().status == "draft"


def test_a_redrafted_article_is_republished_at_a_revision_above_its_unpublishing(bus: TestBus) -> None:
    article = write_armchair()
    services.article_publish(article_id=article.pk)
    services.article_unpublish(article_id=article.pk)
    services.article_redraft(article_id=article.pk)
    services.article_edit(article_id=article.pk, body="Now with a softer cushion.")
    services.article_publish(article_id=article.pk)
    revisions = [(t.split(".")[1], p["revision"]) for t, p in announced()]
    assert revisions == [("ArticlePublished", 2), ("ArticleUnpublished", 3), ("ArticlePublished", 6)]
