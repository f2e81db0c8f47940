from __future__ import annotations

import pytest
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
    return AuthorFactory(username="editor", first_name="Eddie", last_name="Tor", is_staff=True)


@pytest.fixture
def client_for():
    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make
