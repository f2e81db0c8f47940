"""A reader on the public site in a real browser: finds an article by searching and reads it.

Django's live server and Chromium driven by Playwright (the system's /usr/bin/chromium; nothing
is downloaded). The articles are put on the public side with publishing's own service, as its
handlers do, so no worker is needed. Every request the browser makes is watched: none may leave
the live server's origin (no CDN, no web font). Screenshots at 1400 px (and at 375 px, a phone)
are kept in var/artifacts/public_site/.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from publishing.selectors import SITE_PAGE_SIZE
from publishing.services import public_article_show
from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = REPO / "var" / "artifacts" / "public_site"

SHELF = [
    (
        "The crunchy armchair",
        "Ada Lovelace",
        "Every shop has one piece of furniture that tells you when someone sits on it. Ours is an "
        "armchair that crunches: a dry, friendly sound, like stepping on autumn leaves.\n\n"
        "We asked the upholsterer. The filling is coconut fibre, the way armchairs were stuffed "
        "a century ago, and it settles a little with every visitor. Nothing is broken.\n\n"
        "So the crunchy armchair stays by the window, where it can greet whoever comes in.",
    ),
    (
        "The shiny lamp",
        "Grace Hopper",
        "A brass lamp so polished that the moths file complaints. It lights the counter, the till "
        "and, on winter afternoons, half of the street.",
    ),
    (
        "The wobbly table",
        "Grace Hopper",
        "One leg is shorter than the others. A folded beer mat saves every dinner; a brass shim "
        "would save it for good, but where is the fun in that?",
    ),
    (
        "Stocktaking at midnight",
        "Katherine Johnson",
        "Counting what is on the shelves while the street sleeps: why the numbers never lie, and "
        "why they are sometimes late.",
    ),
]


@pytest.fixture
def browser(chromium: Any) -> Any:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return chromium


def put_on_the_shelf() -> None:
    """The articles above, then enough older ones for a second page, as publishing's handlers would."""
    now = timezone.now()
    older = [(f"From the archive, part {n}", "Ada Lovelace", "An older note from the shop.") for n in range(1, 9)]
    for age, (title, author, body) in enumerate([*SHELF, *older]):
        published_at = now - timedelta(days=age)
        public_article_show(
            article_id=uuid.uuid4(),
            revision=2,
            changed_at=published_at,
            slug=title.lower().replace(",", "").replace(" ", "-"),
            title=title,
            body=body,
            author_id=7,
            author_name=author,
            published_at=published_at,
        )


def shoot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def overflows_horizontally(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth")


def header_sticks_out(page) -> float:
    """How far the search box reaches past the right edge of the page's text column (px)."""
    return page.evaluate(
        """() => {
            const text = document.querySelector("main h1").getBoundingClientRect();
            const column = document.querySelector("main").getBoundingClientRect();
            const padding = parseFloat(getComputedStyle(document.querySelector("main")).paddingRight);
            const search = document.querySelector("form.search").getBoundingClientRect();
            return search.right - Math.max(text.right, column.right - padding);
        }"""
    )


def test_a_reader_finds_an_article_by_searching_and_reads_it(site: str, browser) -> None:
    put_on_the_shelf()
    origin = urlsplit(site)
    elsewhere: list[str] = []
    stylesheets: list[int] = []

    def watch(route) -> None:
        asked = urlsplit(route.request.url)
        if (asked.scheme, asked.netloc) != (origin.scheme, origin.netloc):
            elsewhere.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(15_000)
    page.route("**/*", watch)
    page.on("response", lambda r: stylesheets.append(r.status) if r.url.endswith("/site.css") else None)

    # The front of the public site: the newest articles, and a way to the older ones.
    page.goto(f"{site}/articles/")
    assert page.title() == "Articles · Shop articles"
    assert page.locator("ol.article-list > li").count() == SITE_PAGE_SIZE
    assert page.locator("h2.teaser__title").first.inner_text() == "The crunchy armchair"
    assert page.locator("a[rel=next]").get_attribute("href") == "/articles/?page=2"
    assert stylesheets == [200], "the site's own stylesheet is served"
    assert page.evaluate("getComputedStyle(document.querySelector('.site-header')).borderBottomStyle") == "solid"
    assert not overflows_horizontally(page)
    assert header_sticks_out(page) <= 0.5
    shoot(page, "list_1400")

    # The reader remembers a lamp, searches for it, and opens what is found.
    page.get_by_role("searchbox", name="Search articles").fill("lamp")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/articles/?q=lamp")
    assert page.title() == "Search: lamp · Shop articles"
    found = page.locator("h2.teaser__title a")
    assert found.all_inner_texts() == ["The shiny lamp"]
    assert page.locator("p.summary").inner_text().startswith("1 article found.")
    shoot(page, "search_1400")
    found.first.click()
    page.wait_for_url("**/articles/the-shiny-lamp/")
    assert page.locator("h1").inner_text() == "The shiny lamp"
    assert "moths file complaints" in page.locator(".article__body").inner_text()

    # The longest article, as a reader at 1400 px and on a phone sees it.
    page.goto(f"{site}/articles/the-crunchy-armchair/")
    assert page.title() == "The crunchy armchair · Shop articles"
    assert page.locator(".article__body p").count() == 3
    assert page.locator("link[rel=canonical]").get_attribute("href") == f"{site}/articles/the-crunchy-armchair/"
    body_width = page.locator(".article__body").bounding_box()["width"]
    assert 500 <= body_width <= 720, f"a readable measure at 1400 px, not {body_width} px"
    shoot(page, "article_1400")

    # From a phone to a wide screen: no sideways scrolling, the search box within the column, and
    # the text never wider than a comfortable line (42rem).
    for width in (375, 768, 1920):
        other = browser.new_page(viewport={"width": width, "height": 900})
        other.route("**/*", watch)
        for path, name in (("/articles/", "list"), ("/articles/the-crunchy-armchair/", "article")):
            other.goto(f"{site}{path}")
            assert not overflows_horizontally(other), f"{path} is wider than a {width} px window"
            assert header_sticks_out(other) <= 0.5, f"{path}: the search box reaches past the text column"
            assert other.locator("main h1").bounding_box()["width"] <= 720
            if width == 375:
                shoot(other, f"{name}_375")
        other.close()

    # A mistyped address: the site's own page, not a bare error.
    response = page.goto(f"{site}/articles/the-crunchy-armchiar/")
    assert response.status == 404
    assert page.title() == "Not found · Shop articles"
    shoot(page, "not_found_1400")

    assert elsewhere == [], f"requests left the site's origin: {elsewhere}"
