"""Admin actions publish and unpublish through the services, so the events go out."""

from __future__ import annotations

import pytest
from django.test import Client

from articles.models import Article
from tests.factories.articles import ArticleFactory, AuthorFactory
from tests.messaging_rows import outbox_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(AuthorFactory(username="root", is_staff=True, is_superuser=True))
    return client


def run_action(client: Client, action: str, *articles: Article):
    return client.post(
        "/admin/articles/article/",
        {"action": action, "_selected_action": [str(a.pk) for a in articles]},
        follow=True,
    )


def test_the_publish_action_publishes_drafts_and_announces_each(admin_client_: Client) -> None:
    lamp, vase = ArticleFactory(title="The shiny lamp"), ArticleFactory(title="The rare vase")
    response = run_action(admin_client_, "publish_articles", lamp, vase)
    assert response.status_code == 200
    assert set(Article.objects.values_list("status", flat=True)) == {"published"}
    assert outbox_events("articles").filter(event_type="articles.ArticlePublished").count() == 2
    assert "2 article(s) published." in response.content.decode()


def test_the_publish_action_reports_an_article_it_cannot_publish_and_publishes_the_rest(admin_client_: Client) -> None:
    draft = ArticleFactory()
    already = ArticleFactory(published=True, slug="already-out")
    response = run_action(admin_client_, "publish_articles", draft, already)
    page = response.content.decode()
    assert "Article &#x27;already-out&#x27; is published: only a draft can be published." in page
    assert "1 article(s) published." in page
    assert outbox_events("articles").count() == 1


def test_the_unpublish_action_withdraws_published_articles(admin_client_: Client) -> None:
    article = ArticleFactory(published=True)
    run_action(admin_client_, "unpublish_articles", article)
    assert Article.objects.get().status == "unpublished"
    assert outbox_events("articles").get().event_type == "articles.ArticleUnpublished"


def test_the_admin_shows_an_article_read_only(admin_client_: Client) -> None:
    article = ArticleFactory(title="The wobbly table")
    response = admin_client_.get(f"/admin/articles/article/{article.pk}/change/")
    assert response.status_code == 200
    assert "The wobbly table" in response.content.decode()
    assert admin_client_.get("/admin/articles/article/add/").status_code == 403
