"""Articles (authoring) use cases. Each one is a durable transaction: the state change and the
event it publishes to the outbox commit together or not at all."""

from __future__ import annotations

from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from articles.events import ArticlePublished, ArticleRevised, ArticleUnpublished
from articles.models import Article, ArticleError
from project.messaging import database_for, publish

# The database this domain's rows and its outbox live in (its own, or the default): every
# service's transaction runs there, so that what it publishes commits with what it changes.
DATABASE = database_for("articles")


def _slug_taken_error(slug: str) -> ArticleError:
    return ArticleError(f"The slug '{slug}' is already used by another article.", field="slug")


def _locked_article(article_id: UUID) -> Article:
    # Lock the article row for the rest of the transaction: two concurrent edits (or an edit
    # and a publish) would otherwise both read revision N and both write N + 1, announcing two
    # different contents under one revision that the public side could not tell apart.
    return Article.objects.select_for_update().get(pk=article_id)


@transaction.atomic(using=DATABASE, durable=True)
def article_create(*, author_id: int, author_name: str, title: str, body: str, slug: str = "") -> Article:
    """Start a draft. The slug defaults to the slugified title and must be unique."""
    slug = slug or slugify(title)[:200]
    if not slug:
        raise ArticleError("A slug cannot be derived from this title; give one.", field="slug")
    if Article.objects.filter(slug=slug).exists():
        raise _slug_taken_error(slug)
    try:
        with transaction.atomic(using=DATABASE):  # savepoint: a concurrent draft may take the slug first
            return Article.objects.create(
                author_id=author_id, author_name=author_name, title=title, body=body, slug=slug
            )
    except IntegrityError:
        raise _slug_taken_error(slug) from None


@transaction.atomic(using=DATABASE, durable=True)
def article_edit(
    *, article_id: UUID, title: str | None = None, body: str | None = None, slug: str | None = None
) -> Article:
    """Edit a draft, or revise a published article (ArticleRevised goes out with the commit).

    Every effective change adds one to the revision; an edit that changes nothing is a no-op.
    An unpublished article must be redrafted first, and only a draft's slug can change.
    """
    article = _locked_article(article_id)
    if slug is not None and slug != article.slug and Article.objects.filter(slug=slug).exists():
        raise _slug_taken_error(slug)
    if not article.edit(title=title, body=body, slug=slug):
        return article
    try:
        with transaction.atomic(using=DATABASE):  # savepoint: a concurrent draft may take the slug first
            article.save(update_fields=["title", "body", "slug", "revision", "updated_at"])
    except IntegrityError:
        raise _slug_taken_error(article.slug) from None
    if article.status == Article.Status.PUBLISHED:
        publish(
            ArticleRevised(
                article_id=article.id,
                slug=article.slug,
                title=article.title,
                body=article.body,
                revision=article.revision,
                author_id=article.author_id,
                author_name=article.author_name,
                published_at=article.published_at,
            ),
            aggregate_version=article.revision,
        )
    return article


@transaction.atomic(using=DATABASE, durable=True)
def article_publish(*, article_id: UUID) -> Article:
    """Publish a draft: ArticlePublished, with the full content and revision, goes out with the commit."""
    article = _locked_article(article_id)
    article.publish(at=timezone.now())
    article.save(update_fields=["status", "revision", "published_at", "updated_at"])
    publish(
        ArticlePublished(
            article_id=article.id,
            slug=article.slug,
            title=article.title,
            body=article.body,
            author_id=article.author_id,
            author_name=article.author_name,
            revision=article.revision,
            published_at=article.published_at,
        ),
        aggregate_version=article.revision,
    )
    return article


@transaction.atomic(using=DATABASE, durable=True)
def article_unpublish(*, article_id: UUID) -> Article:
    """Withdraw a published article: ArticleUnpublished goes out with the commit."""
    article = _locked_article(article_id)
    article.unpublish()
    article.save(update_fields=["status", "revision", "updated_at"])
    publish(
        ArticleUnpublished(article_id=article.id, slug=article.slug, revision=article.revision),
        aggregate_version=article.revision,
    )
    return article


@transaction.atomic(using=DATABASE, durable=True)
def article_redraft(*, article_id: UUID) -> Article:
    """Take an unpublished article back to draft. No event: a draft is invisible to the public,
    which already holds the article as withdrawn."""
    article = _locked_article(article_id)
    article.redraft()
    article.save(update_fields=["status", "revision", "updated_at"])
    return article
