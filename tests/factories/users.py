"""Factories of the users domain: auth users and their profiles.

They write rows directly and publish no events: for model, selector and API tests. Tests about
events go through users.services (user_register and friends) instead.
"""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from users.models import UserProfile

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"shopper-{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password(PASSWORD)


class UserProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UserProfile

    user = factory.SubFactory("tests.factories.users.UserFactory")
    display_name = factory.LazyAttribute(lambda o: o.user.username.title())
    order_updates = True
    new_articles = False
    email_format = UserProfile.EmailFormat.HTML
    version = 1
