"""Factories of the articles domain: authors (Django auth users) and articles in any state.

The state traits write rows directly (no events): for model and API tests. Tests about events
drive the services instead.
"""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from articles.models import Article
from project.messaging import database_for


class AuthorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"author-{n}")
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Quill {n}")
    password = factory.django.Password("an-author-password")


class ArticleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Article
        database = database_for("articles")

    class Params:
        author = None  # an auth user; sets author_id and author_name
        published = factory.Trait(
            status=Article.Status.PUBLISHED, revision=2, published_at=factory.LazyFunction(timezone.now)
        )
        unpublished = factory.Trait(
            status=Article.Status.UNPUBLISHED, revision=3, published_at=factory.LazyFunction(timezone.now)
        )

    title = factory.Sequence(lambda n: f"The crunchy armchair, part {n}")
    slug = factory.Sequence(lambda n: f"the-crunchy-armchair-part-{n}")
    body = "An armchair that crunches when you sit on it, and why people love it."
    author_id = factory.LazyAttribute(lambda o: o.author.pk if o.author else 1)
    author_name = factory.LazyAttribute(lambda o: o.author.get_full_name() if o.author else "Ada Quill")
    status = Article.Status.DRAFT
    revision = 1
