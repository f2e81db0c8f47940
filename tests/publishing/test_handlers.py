"""The public copy follows the articles' events: once each, newest revision wins, in any order."""

from __future__ import annotations

import pytest

from articles import services as authoring
from project.messaging.inbox.consumer import Outcome
from project.messaging.testing import TestBus
from publishing.models import PublicArticle
from tests.factories.publishing import (
    WOBBLY_TABLE_ID,
    ArticlePublishedFactory,
    ArticleRevisedFactory,
    ArticleUnpublishedFactory,
)
from tests.messaging_rows import outbox_events

pytestmark = pytest.mark.django_db


def copy() -> PublicArticle:
    return PublicArticle.objects.get(pk=WOBBLY_TABLE_ID)


def write_and_publish_armchair():
    article = authoring.article_create(
        author_id=11, author_name="Ada Quill", title="The crunchy armchair", body="It crunches when you sit."
    )
    return authoring.article_publish(article_id=article.pk)


def test_a_published_article_gets_a_public_copy_with_its_content_and_author(bus: TestBus) -> None:
    article = write_and_publish_armchair()
    bus.drain()
    public = PublicArticle.objects.get(pk=article.pk)
    assert (public.slug, public.title, public.body, public.author_name, public.revision, public.is_public) == (
        "the-crunchy-armchair",
        "The crunchy armchair",
        "It crunches when you sit.",
        "Ada Quill",
        2,
        True,
    )
    assert public.published_at == article.published_at
    assert public.changed_at == outbox_events("articles").get().occurred_at


def test_every_event_delivered_twice_is_applied_once(bus: TestBus) -> None:
    article = write_and_publish_armchair()
    authoring.article_edit(article_id=article.pk, title="The crunchy armchair, revisited")
    handled = [h for h in bus.drain(duplicate=True) if h.handler.startswith("publishing.")]
    assert sorted(h.result.outcome.value for h in handled) == ["duplicate", "duplicate", "processed", "processed"]
    public = PublicArticle.objects.get()
    assert (public.title, public.revision) == ("The crunchy armchair, revisited", 3)


def test_an_older_revision_arriving_after_a_newer_one_does_not_overwrite_it(bus: TestBus, announce) -> None:
    announce(ArticleRevisedFactory(revision=3, title="The wobbly table, revisited"))
    bus.drain()
    announce(ArticlePublishedFactory(revision=2, title="The wobbly table"))
    handled = [h for h in bus.drain() if h.handler.startswith("publishing.")]
    assert [(h.handler, h.result.outcome) for h in handled] == [
        ("publishing.show_published_article", Outcome.PROCESSED)
    ]
    assert (copy().title, copy().revision, copy().is_public) == ("The wobbly table, revisited", 3, True)


def test_a_revision_arriving_before_the_publication_still_builds_a_complete_copy(bus: TestBus, announce) -> None:
    announce(ArticlePublishedFactory(revision=2), ArticleRevisedFactory(revision=3))
    bus.drain(order="reverse")
    assert (copy().revision, copy().author_name, copy().author_id) == (3, "Grace Hopper", 7)
    assert copy().published_at is not None


def test_unpublishing_withdraws_the_copy_but_keeps_a_tombstone(bus: TestBus, announce) -> None:
    announce(ArticlePublishedFactory(revision=2), ArticleUnpublishedFactory(revision=3))
    bus.drain()
    assert (copy().is_public, copy().revision, copy().title, copy().body, copy().search_document) == (
        False,
        3,
        "",
        "",
        "",
    )


def test_an_old_publication_arriving_after_the_unpublishing_does_not_resurrect_the_article(
    bus: TestBus, announce
) -> None:
    announce(ArticleUnpublishedFactory(revision=3))
    bus.drain()
    assert (copy().is_public, copy().revision) == (False, 3)
    announce(ArticlePublishedFactory(revision=2), ArticleRevisedFactory(revision=3))
    bus.drain(duplicate=True, order="shuffle", seed=3)
    assert (copy().is_public, copy().revision, copy().body) == (False, 3, "")


def test_an_old_unpublishing_arriving_late_does_not_remove_a_newer_republished_copy(bus: TestBus, announce) -> None:
    announce(ArticlePublishedFactory(revision=5, title="The wobbly table, second edition"))
    bus.drain()
    announce(ArticleUnpublishedFactory(revision=3), ArticlePublishedFactory(revision=2))
    bus.drain(order="reverse")
    assert (copy().is_public, copy().revision, copy().title) == (True, 5, "The wobbly table, second edition")


@pytest.mark.parametrize("seed", range(8))
def test_a_whole_life_cycle_delivered_twice_in_any_order_ends_at_the_newest_revision(bus: TestBus, seed: int) -> None:
    article = write_and_publish_armchair()  # r2
    authoring.article_edit(article_id=article.pk, body="It crunches, loudly.")  # r3 revised
    authoring.article_unpublish(article_id=article.pk)  # r4
    authoring.article_redraft(article_id=article.pk)  # r5
    authoring.article_edit(article_id=article.pk, title="The quiet armchair")  # r6, a draft edit: no event
    authoring.article_publish(article_id=article.pk)  # r7
    bus.drain(duplicate=True, order="shuffle", seed=seed)
    public = PublicArticle.objects.get()
    assert (public.is_public, public.revision, public.title, public.body) == (
        True,
        7,
        "The quiet armchair",
        "It crunches, loudly.",
    )


@pytest.mark.parametrize("order", ["fifo", "reverse"])
def test_a_life_cycle_ending_unpublished_stays_withdrawn_whatever_the_order(bus: TestBus, order: str) -> None:
    article = write_and_publish_armchair()
    authoring.article_edit(article_id=article.pk, body="It crunches, loudly.")
    authoring.article_unpublish(article_id=article.pk)
    bus.drain(duplicate=True, order=order)
    public = PublicArticle.objects.get()
    assert (public.is_public, public.revision) == (False, 4)
