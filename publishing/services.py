"""Publishing use cases: keep the public copy of each article at the newest revision announced.

They are called by handlers, so they join the handler's inbox transaction (plain ``atomic``).
The rule that makes them safe in any order: an event changes the copy only if its revision is
newer than the one held; an unpublished article is kept as a tombstone holding its revision.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction

from project.messaging import database_for
from publishing.models import PublicArticle

logger = logging.getLogger(__name__)

# The database this domain's rows and its inbox live in (its own, or the default): every
# service's transaction runs there, with the handler's inbox record.
DATABASE = database_for("publishing")


def _held_for_update(article_id: UUID) -> PublicArticle | None:
    # Lock the copy: two events of one article handled at once by two workers must compare
    # their revisions with the held one one after the other, or the older could win.
    return PublicArticle.objects.select_for_update().filter(pk=article_id).first()


def _apply_if_newer(*, article_id: UUID, revision: int, create: dict[str, Any], update: dict[str, Any]) -> bool:
    """Write ``update`` (or create the row from ``create``) only if ``revision`` is newer."""
    held = _held_for_update(article_id)
    if held is None:
        try:
            with transaction.atomic(using=DATABASE):  # savepoint: another worker may insert the first copy
                PublicArticle.objects.create(article_id=article_id, revision=revision, **create)
            return True
        except IntegrityError:
            held = _held_for_update(article_id)
            if held is None:  # pragma: no cover - the failed insert was not a duplicate copy
                raise
    if revision <= held.revision:
        logger.info(
            "Ignoring revision %s of article %s: revision %s is already held", revision, article_id, held.revision
        )
        return False
    for name, value in update.items():
        setattr(held, name, value)
    held.revision = revision
    held.save()
    return True


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def public_article_show(
    *,
    article_id: UUID,
    revision: int,
    changed_at: datetime,
    slug: str,
    title: str,
    body: str,
    author_id: int | None = None,
    author_name: str | None = None,
    published_at: datetime | None = None,
) -> bool:
    """Show this revision of the article to the public, if it is newer than the copy held.

    For ArticlePublished and ArticleRevised alike. Author and publication time, when not given
    (an older producer's ArticleRevised), keep their held values. Returns whether it applied.
    """
    content = {
        "slug": slug,
        "title": title,
        "body": body,
        "is_public": True,
        "changed_at": changed_at,
        "search_document": PublicArticle.search_document_of(title, body),
    }
    given = {
        name: value
        for name, value in (("author_id", author_id), ("author_name", author_name), ("published_at", published_at))
        if value is not None
    }
    create = {"author_name": "", "published_at": changed_at, **content, **given}
    return _apply_if_newer(article_id=article_id, revision=revision, create=create, update={**content, **given})


@transaction.atomic(using=DATABASE, savepoint=False)  # a handler's: joins its transaction, see messaging.md
def public_article_withdraw(*, article_id: UUID, slug: str, revision: int, changed_at: datetime) -> bool:
    """Take the article off the public side, if this revision is newer than the copy held.

    The row stays as a tombstone (not public, content cleared, revision kept), even when no copy
    was held yet, so an older ArticlePublished arriving later cannot show it again.
    """
    tombstone = {
        "slug": slug,
        "title": "",
        "body": "",
        "search_document": "",
        "is_public": False,
        "changed_at": changed_at,
    }
    return _apply_if_newer(article_id=article_id, revision=revision, create=tombstone, update=tombstone)
