"""Factories of the publishing domain's inputs and rows.

The event factories build the articles domain's events (publishing's input contract) with
matching ids and slugs; PublicArticleFactory builds a public copy directly, for read-side tests.
"""

from __future__ import annotations

import uuid

import factory
from django.utils import timezone

from articles.events import ArticlePublished, ArticleRevised, ArticleUnpublished
from project.messaging import database_for
from publishing.models import PublicArticle

WOBBLY_TABLE_ID = uuid.UUID("00000000-0000-4000-8000-00000000a11e")


class ArticlePublishedFactory(factory.Factory):
    class Meta:
        model = ArticlePublished

    article_id = WOBBLY_TABLE_ID
    slug = "the-wobbly-table"
    title = "The wobbly table"
    body = "A table with one short leg, and the folded beer mat that saves every dinner."
    author_id = 7
    author_name = "Grace Hopper"
    revision = 2
    published_at = factory.LazyFunction(timezone.now)


class ArticleRevisedFactory(factory.Factory):
    class Meta:
        model = ArticleRevised

    article_id = WOBBLY_TABLE_ID
    slug = "the-wobbly-table"
    title = "The wobbly table, revisited"
    body = "A table with one short leg, now fixed for good with a brass shim."
    revision = 3
    author_id = 7
    author_name = "Grace Hopper"
    published_at = factory.LazyFunction(timezone.now)


class ArticleUnpublishedFactory(factory.Factory):
    class Meta:
        model = ArticleUnpublished

    article_id = WOBBLY_TABLE_ID
    slug = "the-wobbly-table"
    revision = 4


class PublicArticleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PublicArticle
        database = database_for("publishing")

    article_id = factory.LazyFunction(uuid.uuid4)
    slug = factory.Sequence(lambda n: f"the-shiny-lamp-{n}")
    title = factory.Sequence(lambda n: f"The shiny lamp, chapter {n}")
    body = "A lamp so shiny that moths file complaints."
    author_id = 7
    author_name = "Grace Hopper"
    revision = 2
    is_public = True
    published_at = factory.LazyFunction(timezone.now)
    changed_at = factory.LazyFunction(timezone.now)
    search_document = factory.LazyAttribute(lambda o: PublicArticle.search_document_of(o.title, o.body))
