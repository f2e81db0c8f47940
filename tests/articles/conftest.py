from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from tests.factories.articles import AuthorFactory


@pytest.fixture
def ada(db: None):
    return AuthorFactory(username="ada", first_name="Ada", last_name="Quill")


@pytest.fixture
def grace(db: None):
    return AuthorFactory(username="grace", first_name="Grace", last_name="Hopper")


@pytest.fixture
def editor(db: None):
    """Staff who may change anyone's article (articles.change_article)."""
    eddie = AuthorFactory(username="editor", first_name="Eddie", last_name="Tor", is_staff=True)
    eddie.user_permissions.add(Permission.objects.get(content_type__app_label="articles", codename="change_article"))
    return eddie


@pytest.fixture
def client_for():
    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make
