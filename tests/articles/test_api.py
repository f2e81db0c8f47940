"""The authors' API: own articles only (others' are a 404), clear 4xx errors, nothing changed on refusal."""

from __future__ import annotations

import pytest

from articles.models import Article
from tests.factories.articles import ArticleFactory
from tests.messaging_rows import outbox_events

pytestmark = pytest.mark.django_db

ARMCHAIR = {"title": "The crunchy armchair", "body": "An armchair that crunches when you sit on it."}


def test_an_author_creates_a_draft_under_their_own_name(client_for, ada) -> None:
    response = client_for(ada).post("/api/articles/", ARMCHAIR, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["slug"], body["author_id"], body["author_name"], body["revision"]) == (
        "draft",
        "the-crunchy-armchair",
        ada.pk,
        "Ada Quill",
        1,
    )


def test_creating_an_article_without_a_title_is_a_400_naming_the_field(client_for, ada) -> None:
    response = client_for(ada).post("/api/articles/", {"body": "No title here."}, format="json")
    assert response.status_code == 400
    assert "title" in response.json()["errors"]
    assert not Article.objects.exists()


def test_creating_an_article_with_an_invalid_slug_is_a_400_naming_the_field(client_for, ada) -> None:
    response = client_for(ada).post("/api/articles/", {**ARMCHAIR, "slug": "Not a slug!"}, format="json")
    assert response.status_code == 400
    assert "slug" in response.json()["errors"]
    assert not Article.objects.exists()


def test_creating_an_article_with_a_slug_already_taken_is_a_400_naming_the_field(client_for, ada, grace) -> None:
    ArticleFactory(author=grace, slug="the-crunchy-armchair")
    response = client_for(ada).post("/api/articles/", ARMCHAIR, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "slug": ["The slug 'the-crunchy-armchair' is already used by another article."]
    }
    assert Article.objects.count() == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/articles/"),
        ("patch", "/api/articles/{id}/"),
        ("put", "/api/articles/{id}/"),
        ("post", "/api/articles/{id}/publish/"),
        ("post", "/api/articles/{id}/unpublish/"),
    ],
)
def test_writing_without_logging_in_is_a_401_and_changes_nothing(client_for, method, path) -> None:
    article = ArticleFactory()
    response = getattr(client_for(None), method)(path.format(id=article.pk), ARMCHAIR, format="json")
    assert response.status_code == 401
    stored = Article.objects.get()
    assert (stored.title, stored.status, stored.revision) == (article.title, "draft", 1)
    assert not outbox_events("articles").exists()


def test_an_author_lists_only_their_own_articles(client_for, ada, grace) -> None:
    mine = ArticleFactory(author=ada)
    ArticleFactory(author=grace)
    response = client_for(ada).get("/api/articles/")
    assert response.status_code == 200
    assert [a["id"] for a in response.json()["results"]] == [str(mine.pk)]


def test_staff_list_every_article(client_for, ada, grace, editor) -> None:
    ArticleFactory(author=ada)
    ArticleFactory(author=grace)
    response = client_for(editor).get("/api/articles/")
    assert response.status_code == 200
    assert response.json()["count"] == 2


def test_someone_elses_article_is_a_404_to_read_edit_or_publish(client_for, ada, grace) -> None:
    theirs = ArticleFactory(author=grace)
    client = client_for(ada)
    assert client.get(f"/api/articles/{theirs.pk}/").status_code == 404
    assert client.patch(f"/api/articles/{theirs.pk}/", {"title": "Mine now"}, format="json").status_code == 404
    assert client.post(f"/api/articles/{theirs.pk}/publish/").status_code == 404
    stored = Article.objects.get()
    assert (stored.title, stored.status) == (theirs.title, "draft")
    assert not outbox_events("articles").exists()


def test_an_author_edits_their_draft(client_for, ada) -> None:
    article = ArticleFactory(author=ada)
    response = client_for(ada).patch(f"/api/articles/{article.pk}/", {"title": "A better title"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["title"], response.json()["revision"]) == ("A better title", 2)
    assert Article.objects.get().title == "A better title"


def test_a_full_update_without_a_body_is_a_400_naming_the_field(client_for, ada) -> None:
    article = ArticleFactory(author=ada)
    response = client_for(ada).put(f"/api/articles/{article.pk}/", {"title": "Only a title"}, format="json")
    assert response.status_code == 400
    assert "body" in response.json()["errors"]
    assert Article.objects.get().title == article.title


def test_an_author_publishes_their_draft_and_the_event_goes_out(client_for, ada) -> None:
    article = ArticleFactory(author=ada)
    response = client_for(ada).post(f"/api/articles/{article.pk}/publish/")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["revision"]) == ("published", 2)
    assert outbox_events("articles").get().event_type == "articles.ArticlePublished"


def test_publishing_a_published_article_is_a_409_saying_why_and_changes_nothing(client_for, ada) -> None:
    article = ArticleFactory(author=ada, published=True)
    response = client_for(ada).post(f"/api/articles/{article.pk}/publish/")
    assert response.status_code == 409
    assert response.json()["detail"] == f"Article '{article.slug}' is published: only a draft can be published."
    assert Article.objects.get().revision == 2
    assert not outbox_events("articles").exists()


def test_unpublishing_a_draft_is_a_409_saying_why(client_for, ada) -> None:
    article = ArticleFactory(author=ada)
    response = client_for(ada).post(f"/api/articles/{article.pk}/unpublish/")
    assert response.status_code == 409
    assert "only a published article can be unpublished" in response.json()["detail"]


def test_changing_the_slug_of_a_published_article_is_a_400_naming_the_field(client_for, ada) -> None:
    article = ArticleFactory(author=ada, published=True)
    response = client_for(ada).patch(f"/api/articles/{article.pk}/", {"slug": "elsewhere"}, format="json")
    assert response.status_code == 400
    assert "slug" in response.json()["errors"]
    assert Article.objects.get().slug == article.slug


def test_an_author_unpublishes_redrafts_and_republishes_their_article(client_for, ada) -> None:
    article = ArticleFactory(author=ada, published=True)
    client = client_for(ada)
    assert client.post(f"/api/articles/{article.pk}/unpublish/").json()["status"] == "unpublished"
    assert client.patch(f"/api/articles/{article.pk}/", {"body": "x"}, format="json").status_code == 409
    assert client.post(f"/api/articles/{article.pk}/redraft/").json()["status"] == "draft"
    assert client.patch(f"/api/articles/{article.pk}/", {"body": "Fresh."}, format="json").status_code == 200
    response = client.post(f"/api/articles/{article.pk}/publish/")
    assert (response.json()["status"], response.json()["revision"]) == ("published", 6)
    assert list(outbox_events("articles").order_by("occurred_at").values_list("event_type", flat=True)) == [
        "articles.ArticleUnpublished",
        "articles.ArticlePublished",
    ]


def test_staff_publish_and_unpublish_anyones_article(client_for, ada, editor) -> None:
    article = ArticleFactory(author=ada)
    client = client_for(editor)
    assert client.post(f"/api/articles/{article.pk}/publish/").status_code == 200
    assert client.post(f"/api/articles/{article.pk}/unpublish/").status_code == 200
    assert Article.objects.get().status == "unpublished"
