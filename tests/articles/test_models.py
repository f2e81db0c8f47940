"""The article's life cycle: draft -> published -> unpublished -> (redraft) draft, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from articles.models import Article, ArticleError
from project.errors import IllegalTransition

NOON = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def draft(**overrides) -> Article:
    fields = {"title": "The crunchy armchair", "slug": "the-crunchy-armchair", "body": "It crunches."}
    return Article(author_id=1, author_name="Ada Quill", **{**fields, **overrides})


def test_a_new_article_is_a_draft_at_revision_one() -> None:
    article = draft()
    assert (article.status, article.revision, article.published_at) == ("draft", 1, None)


def test_publishing_a_draft_makes_it_published_at_a_new_revision() -> None:
    article = draft()
    article.publish(at=NOON)
    assert (article.status, article.revision, article.published_at) == ("published", 2, NOON)


def test_publishing_a_published_article_is_refused_and_changes_nothing() -> None:
    article = draft()
    article.publish(at=NOON)
    with pytest.raises(IllegalTransition, match="is published: only a draft can be published"):
        article.publish(at=NOON)
    assert (article.status, article.revision) == ("published", 2)


def test_publishing_an_unpublished_article_is_refused_until_it_is_redrafted() -> None:
    article = draft()
    article.publish(at=NOON)
    article.unpublish()
    with pytest.raises(IllegalTransition, match="only a draft can be published"):
        article.publish(at=NOON)
    article.redraft()
    article.publish(at=NOON)
    assert (article.status, article.revision) == ("published", 5)


def test_unpublishing_a_draft_is_refused() -> None:
    with pytest.raises(IllegalTransition, match="only a published article can be unpublished"):
        draft().unpublish()


def test_redrafting_is_refused_unless_the_article_is_unpublished() -> None:
    article = draft()
    with pytest.raises(IllegalTransition, match="only an unpublished article can go back to draft"):
        article.redraft()
    article.publish(at=NOON)
    with pytest.raises(IllegalTransition):
        article.redraft()


def test_every_transition_moves_the_revision_forward() -> None:
    article = draft()
    seen = [article.revision]
    for move in (lambda: article.publish(at=NOON), article.unpublish, article.redraft):
        move()
        seen.append(article.revision)
    assert seen == [1, 2, 3, 4]


def test_editing_a_draft_changes_its_content_and_revision() -> None:
    article = draft()
    assert article.edit(title="The crunchier armchair", slug="the-crunchier-armchair") is True
    assert (article.title, article.slug, article.body, article.revision) == (
        "The crunchier armchair",
        "the-crunchier-armchair",
        "It crunches.",
        2,
    )


def test_an_edit_that_changes_nothing_keeps_the_revision() -> None:
    article = draft()
    assert article.edit(title="The crunchy armchair", body="It crunches.") is False
    assert article.revision == 1


def test_editing_a_published_article_revises_it_but_its_slug_is_fixed() -> None:
    article = draft()
    article.publish(at=NOON)
    assert article.edit(body="It crunches, loudly.") is True
    assert article.revision == 3
    with pytest.raises(ArticleError, match="slug of a published article cannot change") as refused:
        article.edit(slug="another-address")
    assert refused.value.field == "slug"
    assert article.slug == "the-crunchy-armchair"


def test_editing_an_unpublished_article_is_refused_until_it_is_redrafted() -> None:
    article = draft()
    article.publish(at=NOON)
    article.unpublish()
    with pytest.raises(IllegalTransition, match="redraft"):
        article.edit(body="Sneaky change.")
    assert article.body == "It crunches."
