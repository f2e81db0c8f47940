"""The public HTML site: the list (pagination, search), an article, the 404 page, the <head>."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.utils import timezone

from publishing.selectors import SITE_PAGE_SIZE
from tests.factories.publishing import PublicArticleFactory

pytestmark = pytest.mark.django_db


class Outline(HTMLParser):
    """What a test reads of a page: its <title>, <link>s, <h1>, article links and pagination links."""

    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.h1 = ""
        self.links: list[dict[str, str]] = []
        self.anchors: list[dict[str, str]] = []
        self.meta: list[dict[str, str]] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {name: value or "" for name, value in attrs}
        if tag in ("title", "h1"):
            self._in = tag
        elif tag == "link":
            self.links.append(named)
        elif tag == "meta":
            self.meta.append(named)
        elif tag == "a":
            self.anchors.append(named)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "h1":
            self.h1 += data

    def link(self, rel: str, type_: str | None = None) -> str | None:
        for link in self.links:
            if link.get("rel") == rel and (type_ is None or link.get("type") == type_):
                return link.get("href")
        return None

    def hrefs(self, rel: str) -> list[str]:
        return [a["href"] for a in self.anchors if a.get("rel") == rel]


def outline(content: bytes) -> Outline:
    parsed = Outline()
    parsed.feed(content.decode())
    return parsed


def article_hrefs(content: bytes) -> list[str]:
    """The links to article pages, in page order (not the list's own address, nor its pages)."""
    return [
        a["href"]
        for a in outline(content).anchors
        if a["href"].startswith("/articles/") and a["href"] != "/articles/" and "?" not in a["href"]
    ]


@pytest.fixture
def shelf() -> list:
    """Three public articles, newest first, and a withdrawn one."""
    now = timezone.now()
    return [
        PublicArticleFactory(
            title="The shiny lamp",
            slug="the-shiny-lamp",
            body="So shiny that moths complain about the armchair next to it.",
            published_at=now,
        ),
        PublicArticleFactory(
            title="The crunchy armchair",
            slug="the-crunchy-armchair",
            body="It crunches when you sit on it.\n\nA second paragraph <b>not</b> made bold.",
            author_name="Ada Lovelace",
            published_at=now - timedelta(days=1),
        ),
        PublicArticleFactory(
            title="The wobbly table",
            slug="the-wobbly-table",
            body="One leg is shorter than the others.",
            published_at=now - timedelta(days=2),
        ),
        PublicArticleFactory(
            title="", slug="the-withdrawn-armchair", body="", is_public=False, published_at=now + timedelta(days=1)
        ),
    ]


def test_the_list_shows_public_articles_newest_first_with_links_to_their_pages(shelf) -> None:
    response = Client().get("/articles/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert article_hrefs(response.content) == [
        "/articles/the-shiny-lamp/",
        "/articles/the-crunchy-armchair/",
        "/articles/the-wobbly-table/",
    ]
    page = outline(response.content)
    assert page.title == "Articles · Shop articles"
    assert page.h1 == "Latest articles"
    assert "By Ada Lovelace" in response.content.decode()


def test_every_page_names_its_canonical_address_and_the_feeds_in_its_head(shelf) -> None:
    for path in ("/articles/", "/articles/the-crunchy-armchair/", "/articles/?q=armchair"):
        page = outline(Client().get(path).content)
        assert page.link("alternate", "application/rss+xml") == "/feeds/articles/rss/", path
        assert page.link("alternate", "application/atom+xml") == "/feeds/articles/atom/", path
        assert page.link("stylesheet") == "/static/publishing/site.css", path
    assert outline(Client().get("/articles/").content).link("canonical") == "http://testserver/articles/"
    article = outline(Client().get("/articles/the-crunchy-armchair/").content)
    assert article.link("canonical") == "http://testserver/articles/the-crunchy-armchair/"


def test_the_pages_fetch_nothing_from_another_origin(shelf) -> None:
    for path in ("/articles/", "/articles/the-crunchy-armchair/", "/articles/?q=lamp", "/articles/nowhere/"):
        page = outline(Client().get(path).content)
        for link in page.links:
            assert link["href"].startswith("/") or link["rel"] == "canonical", (path, link)


def test_the_list_is_paginated_with_links_to_newer_and_older_pages(db: None) -> None:
    now = timezone.now()
    for n in range(SITE_PAGE_SIZE + 3):
        PublicArticleFactory(title=f"Lamp number {n}", slug=f"lamp-{n}", published_at=now - timedelta(hours=n))

    first = Client().get("/articles/")
    assert len(article_hrefs(first.content)) == SITE_PAGE_SIZE
    assert outline(first.content).hrefs("next") == ["/articles/?page=2"]
    assert outline(first.content).hrefs("prev") == []

    second = Client().get("/articles/?page=2")
    assert second.status_code == 200
    assert article_hrefs(second.content) == [f"/articles/lamp-{n}/" for n in range(SITE_PAGE_SIZE, SITE_PAGE_SIZE + 3)]
    parsed = outline(second.content)
    assert parsed.hrefs("prev") == ["/articles/"]
    assert parsed.hrefs("next") == []
    assert parsed.title == "Articles (page 2) · Shop articles"
    assert parsed.link("canonical") == "http://testserver/articles/?page=2"
    assert "Page 2 of 2" in second.content.decode()


@pytest.mark.parametrize("page", ["3", "0", "two"])
def test_a_page_that_does_not_exist_is_an_html_404(shelf, page: str) -> None:
    response = Client().get(f"/articles/?page={page}")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert outline(response.content).title == "Not found · Shop articles"


def test_the_search_finds_matching_articles_and_keeps_the_query_in_its_page_links(db: None) -> None:
    now = timezone.now()
    for n in range(SITE_PAGE_SIZE + 1):
        PublicArticleFactory(
            title=f"Armchair number {n}", slug=f"armchair-{n}", body="Crunchy.", published_at=now - timedelta(hours=n)
        )
    PublicArticleFactory(title="The shiny lamp", slug="the-shiny-lamp", body="Bright.")

    response = Client().get("/articles/?q=armchair")
    assert response.status_code == 200
    hrefs = article_hrefs(response.content)
    assert len(hrefs) == SITE_PAGE_SIZE
    assert "/articles/the-shiny-lamp/" not in hrefs
    parsed = outline(response.content)
    assert parsed.title == "Search: armchair · Shop articles"
    assert parsed.hrefs("next") == ["/articles/?q=armchair&page=2"]
    assert {"name": "robots", "content": "noindex"} in parsed.meta
    assert f"{SITE_PAGE_SIZE + 1} articles found" in response.content.decode()

    older = Client().get("/articles/?q=armchair&page=2")
    assert len(article_hrefs(older.content)) == 1


def test_the_search_never_finds_a_withdrawn_article_and_says_when_nothing_matches(shelf) -> None:
    response = Client().get("/articles/?q=withdrawn")
    assert response.status_code == 200
    assert article_hrefs(response.content) == []
    assert "No article matches your search" in response.content.decode()


def test_a_blank_search_shows_the_whole_list(shelf) -> None:
    response = Client().get("/articles/?q=+++")
    assert len(article_hrefs(response.content)) == 3
    assert outline(response.content).h1 == "Latest articles"


def test_a_search_over_the_length_limit_says_so_and_searches_nothing(shelf) -> None:
    response = Client().get("/articles/", {"q": "armchair " * 30})
    assert response.status_code == 200
    assert "at most 200 characters" in response.content.decode()
    assert outline(response.content).h1 == "Latest articles"


def test_the_article_page_shows_the_article_with_its_text_escaped_in_paragraphs(shelf) -> None:
    response = Client().get("/articles/the-crunchy-armchair/")
    assert response.status_code == 200
    html = response.content.decode()
    page = outline(response.content)
    assert page.title == "The crunchy armchair · Shop articles"
    assert page.h1 == "The crunchy armchair"
    assert "<p>It crunches when you sit on it.</p>" in html
    assert "<p>A second paragraph &lt;b&gt;not&lt;/b&gt; made bold.</p>" in html
    assert "By Ada Lovelace" in html


def test_the_article_id_redirects_permanently_to_its_page(shelf) -> None:
    response = Client().get(f"/articles/{shelf[1].article_id}/")
    assert response.status_code == 301
    assert response["Location"] == "/articles/the-crunchy-armchair/"


@pytest.mark.parametrize("path", ["/articles/no-such-article/", "/articles/the-withdrawn-armchair/"])
def test_an_unknown_or_withdrawn_article_is_an_html_404(shelf, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    page = outline(response.content)
    assert page.title == "Not found · Shop articles"
    assert page.h1 == "Not found"


def test_the_site_only_reads(shelf) -> None:
    assert Client().post("/articles/").status_code == 405
    assert Client().head("/articles/the-shiny-lamp/").status_code == 200


def test_an_article_without_a_publication_time_shows_no_empty_date(db: None) -> None:
    PublicArticleFactory(title="The undated stool", slug="the-undated-stool", author_name="", published_at=None)
    for path in ("/articles/", "/articles/the-undated-stool/"):
        html = Client().get(path).content.decode()
        assert "The undated stool" in html
        assert "<time" not in html, path
