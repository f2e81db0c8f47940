from __future__ import annotations

from django.db import models


class PublicArticle(models.Model):
    """The public copy of an article, built only from the articles domain's events.

    One row per article, holding the newest revision seen. An unpublished article stays as a
    tombstone (``is_public`` off, content cleared, its revision kept), so that an older event
    arriving late can neither overwrite a newer copy nor bring a withdrawn article back.
    """

    article_id = models.UUIDField(primary_key=True)
    # Indexed (SlugField) but not unique: the public address of an article can move to another article (after a
    # redraft renamed the first), and the events of the two may arrive in either order.
    slug = models.SlugField(max_length=200)
    title = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    author_id = models.BigIntegerField(null=True, blank=True)
    author_name = models.CharField(max_length=150, blank=True)
    revision = models.PositiveIntegerField()
    is_public = models.BooleanField(default=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # When the authoring side made the change held here (the event's occurred_at).
    changed_at = models.DateTimeField()
    # Case-folded title and body: the portable search (SQLite) matches terms against it. On
    # PostgreSQL full-text search runs on title and body through a GIN expression index instead.
    search_document = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["-published_at", "article_id"]
        indexes = [
            models.Index(fields=["is_public", "-published_at"], name="publicarticle_newest"),
        ]

    def __str__(self) -> str:
        shown = "public" if self.is_public else "withdrawn"
        return f"{self.title or self.slug} ({shown}, r{self.revision})"

    @staticmethod
    def search_document_of(title: str, body: str) -> str:
        return f"{title}\n{body}".casefold()
