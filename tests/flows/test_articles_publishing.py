"""Articles -> publishing through a real publishing worker on real Redis: what authors publish
through the API shows up on the public side (list, search, feed), and disappears when withdrawn."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from project.messaging.models import Delivery
from project.messaging.outbox.relay import send_acknowledgements
from project.messaging.registry.databases import database_for
from tests.brokers import BrokerQueues
from tests.conftest import wait_until
from tests.factories.articles import AuthorFactory
from tests.messaging_rows import acknowledgement_queues, deliveries

pytestmark = [pytest.mark.flows, pytest.mark.django_db(transaction=True)]

ARMCHAIR = {"title": "The crunchy armchair", "body": "An armchair that crunches when you sit on it."}


@pytest.fixture
def publishing_worker(worker_factory, clean_queues: BrokerQueues):
    # With a database per domain, articles' worker marks its deliveries, told by acknowledgement.
    return worker_factory(["publishing", *acknowledgement_queues("publishing", "articles")])


@pytest.fixture
def author() -> APIClient:
    client = APIClient()
    client.force_authenticate(AuthorFactory(username="ada", first_name="Ada", last_name="Quill"))
    return client


def public_titles(path: str = "/api/public/articles/", **params: str) -> list[str]:
    response = APIClient().get(path, params)
    assert response.status_code == 200, response.content
    return [a["title"] for a in response.json()["results"]]


def rss() -> str:
    return APIClient().get("/feeds/articles/rss/").content.decode()


def write_and_publish(author: APIClient) -> str:
    created = author.post("/api/articles/", ARMCHAIR, format="json")
    assert created.status_code == 201, created.content
    article_id = created.json()["id"]
    published = author.post(f"/api/articles/{article_id}/publish/")
    assert published.status_code == 200, published.content
    return article_id


def test_an_article_published_through_the_api_appears_in_the_public_list_search_and_feed(
    publishing_worker, author: APIClient
) -> None:
    article_id = write_and_publish(author)
    wait_until(lambda: public_titles() == ["The crunchy armchair"], what="the public copy to appear")
    assert public_titles("/api/public/articles/search/", q="armchair") == ["The crunchy armchair"]
    assert "<title>The crunchy armchair</title>" in rss()
    detail = APIClient().get("/api/public/articles/the-crunchy-armchair/").json()
    assert (detail["author_name"], detail["revision"]) == ("Ada Quill", 2)

    revised = author.patch(f"/api/articles/{article_id}/", {"title": "The crunchy armchair, revisited"}, format="json")
    assert revised.status_code == 200, revised.content
    wait_until(lambda: public_titles() == ["The crunchy armchair, revisited"], what="the revision to show")
    assert public_titles("/api/public/articles/search/", q="revisited") == ["The crunchy armchair, revisited"]


def test_unpublishing_removes_the_article_from_the_public_list_search_and_feed_until_republished(
    publishing_worker, author: APIClient
) -> None:
    article_id = write_and_publish(author)
    wait_until(lambda: public_titles() == ["The crunchy armchair"], what="the public copy to appear")

    assert author.post(f"/api/articles/{article_id}/unpublish/").status_code == 200
    wait_until(lambda: public_titles() == [], what="the public copy to be withdrawn")
    assert public_titles("/api/public/articles/search/", q="armchair") == []
    assert "The crunchy armchair" not in rss()
    assert APIClient().get("/api/public/articles/the-crunchy-armchair/").status_code == 404

    assert author.post(f"/api/articles/{article_id}/redraft/").status_code == 200
    assert author.post(f"/api/articles/{article_id}/publish/").status_code == 200
    wait_until(lambda: public_titles() == ["The crunchy armchair"], what="the republished copy to appear")

    def publishing_settled() -> bool:
        # Split, publishing acknowledges by a row its relay sends (the sweep, in production).
        send_acknowledgements(using=database_for("publishing"))
        statuses = set(deliveries("articles").filter(queue="publishing").values_list("status", flat=True))
        return statuses == {Delivery.Status.PROCESSED}

    wait_until(publishing_settled, what="every publishing delivery to be confirmed processed")
