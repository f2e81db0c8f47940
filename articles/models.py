from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models

from project.errors import DomainError, IllegalTransition


class ArticleError(DomainError):
    """A domain rule of articles refused the request. ``field`` names the input at fault, if any.
    A move the article's state forbids is an ``IllegalTransition`` (a 409) instead."""

    code = "article-refused"


class Article(models.Model):
    """An article as its author writes it. Only the ``publishing`` domain shows it to the public.

    Life cycle: draft -> published -> unpublished -> (redraft) draft -> published ...
    Only a draft can be published; only a published article can be unpublished; an unpublished
    article is frozen until its author takes it back to draft with ``redraft()``.

    ``revision`` is the article's version: every change (edit, publish, unpublish, redraft) adds
    one, and every event carries the revision after its change, so the public side can tell a
    newer event from an older one whatever order they arrive in.
    """

    class Status(models.TextChoices):
        DRAFT = "draft"
        PUBLISHED = "published"
        UNPUBLISHED = "unpublished"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    body = models.TextField()
    # The Django auth user's pk: auth is shared infrastructure, but a plain id keeps this table
    # free of cross-app foreign keys, like every other domain's reference to a user.
    author_id = models.BigIntegerField(db_index=True)
    author_name = models.CharField(max_length=150)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.status}, r{self.revision})"

    def _move(self, allowed_from: set[str], to: str, refusal: str) -> None:
        if self.status not in allowed_from:
            raise IllegalTransition(f"Article '{self.slug}' is {self.status}: {refusal}")
        self.status = to
        self.revision += 1

    def publish(self, *, at: datetime) -> None:
        """Make a draft public. ``published_at`` is the time of this (latest) publication."""
        self._move({self.Status.DRAFT}, self.Status.PUBLISHED, "only a draft can be published.")
        self.published_at = at

    def unpublish(self) -> None:
        self._move({self.Status.PUBLISHED}, self.Status.UNPUBLISHED, "only a published article can be unpublished.")

    def redraft(self) -> None:
        """Take an unpublished article back to draft, to edit it and publish it again."""
        self._move({self.Status.UNPUBLISHED}, self.Status.DRAFT, "only an unpublished article can go back to draft.")

    def edit(self, *, title: str | None = None, body: str | None = None, slug: str | None = None) -> bool:
        """Change the content of a draft or a published article; True if anything changed.

        The slug is the article's public address: it can change only while the article is a
        draft, so a published link never breaks. An unpublished article must be redrafted first.
        """
        if self.status == self.Status.UNPUBLISHED:
            raise IllegalTransition(
                f"Article '{self.slug}' is unpublished: take it back to draft (redraft) before editing it."
            )
        if slug is not None and slug != self.slug and self.status != self.Status.DRAFT:
            raise ArticleError(
                f"The slug of a {self.status} article cannot change; only a draft's slug can.", field="slug"
            )
        changes = {
            name: value
            for name, value in (("title", title), ("body", body), ("slug", slug))
            if value is not None and value != getattr(self, name)
        }
        if not changes:
            return False
        for name, value in changes.items():
            setattr(self, name, value)
        self.revision += 1
        return True
