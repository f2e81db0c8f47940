"""Messages published by the notifications domain: its public contract. Consumers may import this module only.

Today the only message is notifications' own command to itself: a new article is announced to
its subscribers one recipient per message, so each email is sent in its own short transaction
and a fault (or a crash) while writing to one subscriber never makes the others' emails go again.
"""

from __future__ import annotations

from uuid import UUID

from project.messaging import Command, message_type


@message_type("notifications.SendNewArticleEmail", version=1, aggregate="user", aggregate_id="user_id")
class SendNewArticleEmail(Command):
    """Tell one subscriber about one published article."""

    user_id: int
    article_event_id: UUID  # the ArticlePublished event: the key of the notification log
    article_id: UUID
    slug: str
    title: str
    author_name: str
    excerpt: str
