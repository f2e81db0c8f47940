"""Events published by the articles (authoring) domain: its public contract.

``revision`` grows with every edit of an article; the public side keeps the newest revision it
has seen, so late or repeated events cannot roll it back.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from project.messaging import Event, message_type


@message_type("articles.ArticlePublished", version=1, aggregate="article", aggregate_id="article_id")
class ArticlePublished(Event):
    """Full content, so the public side needs nothing else to build its copy."""

    article_id: UUID
    slug: str
    title: str
    body: str
    author_id: int
    author_name: str
    revision: int
    published_at: datetime


@message_type("articles.ArticleRevised", version=1, aggregate="article", aggregate_id="article_id")
class ArticleRevised(Event):
    """A published article's content changed (a new revision).

    The optional fields let a consumer that receives this before the article's (older)
    ArticlePublished still build a complete copy; events of older producers may lack them.
    """

    article_id: UUID
    slug: str
    title: str
    body: str
    revision: int
    author_id: int | None = None
    author_name: str | None = None
    published_at: datetime | None = None


@message_type("articles.ArticleUnpublished", version=1, aggregate="article", aggregate_id="article_id")
class ArticleUnpublished(Event):
    article_id: UUID
    slug: str
    revision: int
