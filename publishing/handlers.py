"""Publishing's reactions to the articles domain's events. Each handler calls one service.

Every handler is safe to run twice and in any order: the services apply an event only if its
revision is newer than the copy held (and unpublished articles stay as tombstones).
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from articles.events import ArticlePublished, ArticleRevised, ArticleUnpublished
from project.messaging import current_envelope
from publishing import services


def _occurred_at() -> datetime:
    envelope = current_envelope()
    return envelope.occurred_at if envelope is not None else timezone.now()


def show_published_article(event: ArticlePublished) -> None:
    """Show the published article, unless a newer revision (or its withdrawal) is already held."""
    services.public_article_show(
        article_id=event.article_id,
        revision=event.revision,
        changed_at=_occurred_at(),
        slug=event.slug,
        title=event.title,
        body=event.body,
        author_id=event.author_id,
        author_name=event.author_name,
        published_at=event.published_at,
    )


def show_revised_article(event: ArticleRevised) -> None:
    """Show the new revision, unless a newer one (or the article's withdrawal) is already held."""
    services.public_article_show(
        article_id=event.article_id,
        revision=event.revision,
        changed_at=_occurred_at(),
        slug=event.slug,
        title=event.title,
        body=event.body,
        author_id=event.author_id,
        author_name=event.author_name,
        published_at=event.published_at,
    )


def withdraw_unpublished_article(event: ArticleUnpublished) -> None:
    """Withdraw the article, unless it was republished since (a newer revision is held)."""
    services.public_article_withdraw(
        article_id=event.article_id, slug=event.slug, revision=event.revision, changed_at=_occurred_at()
    )


SUBSCRIPTIONS = {
    ArticlePublished: [show_published_article],
    ArticleRevised: [show_revised_article],
    ArticleUnpublished: [withdraw_unpublished_article],
}
