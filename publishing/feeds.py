"""RSS and Atom feeds of the latest public articles (Django's syndication framework).

Links go to the public site's HTML pages (publishing/site/), made absolute by the framework.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.syndication.views import Feed
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.text import Truncator

from publishing import selectors
from publishing.models import PublicArticle


class LatestArticlesFeed(Feed):
    title = "Latest articles"
    description = "The articles most recently published."
    limit = 20

    def link(self) -> str:
        return reverse("public-site-article-list")

    def items(self) -> QuerySet[PublicArticle]:
        return selectors.public_article_latest(limit=self.limit)

    def item_title(self, item: PublicArticle) -> str:
        return item.title

    def item_description(self, item: PublicArticle) -> str:
        return Truncator(item.body).words(60)

    def item_link(self, item: PublicArticle) -> str:
        return reverse("public-site-article-detail", kwargs={"key": item.slug})

    def item_guid(self, item: PublicArticle) -> str:
        # Stable across revisions and slug changes: readers must not see a revision as a new item.
        return f"urn:uuid:{item.article_id}"

    item_guid_is_permalink = False

    def item_author_name(self, item: PublicArticle) -> str:
        return item.author_name

    def item_pubdate(self, item: PublicArticle) -> datetime | None:
        return item.published_at

    def item_updateddate(self, item: PublicArticle) -> datetime:
        return item.changed_at


class LatestArticlesAtomFeed(LatestArticlesFeed):
    feed_type = Atom1Feed
    subtitle = LatestArticlesFeed.description
