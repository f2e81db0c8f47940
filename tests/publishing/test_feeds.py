"""RSS and Atom feeds of the latest public articles."""

from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories.publishing import PublicArticleFactory

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"


def parse(content: bytes) -> ElementTree.Element:
    return ElementTree.fromstring(content)  # noqa: S314 - our own feed, rendered in this test


@pytest.fixture
def shelf() -> list:
    now = timezone.now()
    return [
        PublicArticleFactory(
            title="The crunchy armchair", slug="the-crunchy-armchair", published_at=now - timedelta(days=1)
        ),
        PublicArticleFactory(
            title="The shiny lamp", slug="the-shiny-lamp", author_name="Grace Hopper", published_at=now
        ),
        PublicArticleFactory(title="", slug="gone", is_public=False, published_at=now + timedelta(days=1)),
    ]


def test_the_rss_feed_lists_public_articles_newest_first(shelf) -> None:
    response = Client().get("/feeds/articles/rss/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/rss+xml")
    items = parse(response.content).findall("./channel/item")
    assert [i.findtext("title") for i in items] == ["The shiny lamp", "The crunchy armchair"]
    assert items[0].findtext("link") == "http://testserver/articles/the-shiny-lamp/"
    assert items[0].findtext("guid") == f"urn:uuid:{shelf[1].article_id}"


def test_the_atom_feed_lists_public_articles_with_their_authors(shelf) -> None:
    response = Client().get("/feeds/articles/atom/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    entries = parse(response.content).findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["The shiny lamp", "The crunchy armchair"]
    assert entries[0].findtext(f"{ATOM}author/{ATOM}name") == "Grace Hopper"
    assert entries[0].find(f"{ATOM}updated") is not None


def test_the_feeds_are_empty_but_valid_when_nothing_is_public(db: None) -> None:
    response = Client().get("/feeds/articles/rss/")
    assert response.status_code == 200
    assert parse(response.content).findall("./channel/item") == []


def test_the_feeds_link_to_the_public_sites_html_pages_by_absolute_urls(shelf) -> None:
    rss = parse(Client().get("/feeds/articles/rss/").content)
    assert rss.findtext("./channel/link") == "http://testserver/articles/"
    atom = parse(Client().get("/feeds/articles/atom/").content)
    links = [e.find(f"{ATOM}link").get("href") for e in atom.findall(f"{ATOM}entry")]
    assert links == ["http://testserver/articles/the-shiny-lamp/", "http://testserver/articles/the-crunchy-armchair/"]
    for item in rss.findall("./channel/item"):
        page = Client().get(item.findtext("link").removeprefix("http://testserver"))
        assert page.status_code == 200
        assert page["Content-Type"].startswith("text/html")
        assert f"<h1>{item.findtext('title')}</h1>" in page.content.decode()
