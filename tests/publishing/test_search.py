"""Search over public articles: full-text on PostgreSQL, word matching on SQLite; same basics on both."""

from __future__ import annotations

import pytest
from django.db import connection

from publishing.selectors import public_article_search
from tests.factories.publishing import PublicArticleFactory

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL full-text search only")


def titles(query: str) -> list[str]:
    return [a.title for a in public_article_search(query)]


@pytest.fixture
def shelf() -> None:
    PublicArticleFactory(title="The crunchy armchair", body="It crunches when you sit on it.")
    PublicArticleFactory(title="The shiny lamp", body="So shiny that moths complain about the armchair next to it.")
    PublicArticleFactory(title="The wobbly table", body="One leg is shorter than the others.")
    PublicArticleFactory(title="Éclairs at midnight", body="A pastry story.")
    PublicArticleFactory(
        title="The withdrawn armchair", body="Gone.", is_public=False, search_document="the withdrawn armchair gone."
    )


def test_a_word_in_the_title_or_the_body_finds_the_article(shelf) -> None:
    assert sorted(titles("armchair")) == ["The crunchy armchair", "The shiny lamp"]
    assert titles("shorter") == ["The wobbly table"]


def test_search_ignores_case_including_accented_letters(shelf) -> None:
    assert titles("WOBBLY") == ["The wobbly table"]
    assert titles("ÉCLAIRS") == ["Éclairs at midnight"]


def test_every_word_of_the_query_must_match(shelf) -> None:
    assert titles("armchair moths") == ["The shiny lamp"]
    assert titles("armchair table") == []


def test_withdrawn_articles_are_never_found(shelf) -> None:
    assert "The withdrawn armchair" not in titles("withdrawn armchair")
    assert titles("withdrawn") == []


def test_a_query_without_any_word_finds_nothing(shelf) -> None:
    assert titles("!!! ???") == []


@on_postgresql
def test_postgresql_matches_word_forms_by_stemming(shelf) -> None:
    assert sorted(titles("armchairs")) == ["The crunchy armchair", "The shiny lamp"]
    assert titles("crunching") == ["The crunchy armchair"]


@on_postgresql
def test_postgresql_ranks_a_title_match_above_a_body_match(shelf) -> None:
    assert titles("armchair") == ["The crunchy armchair", "The shiny lamp"]


@on_postgresql
def test_postgresql_answers_the_search_from_the_gin_index(shelf) -> None:
    query = public_article_search("armchair")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = query.explain()
    assert "publicarticle_search_gin" in plan, plan
