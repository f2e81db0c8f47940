"""PostgreSQL only: a GIN index on the full-text document of public articles.

The indexed expression must be the one publishing.selectors.search_vector() builds at query
time (title weighted A, body weighted B, English configuration), or PostgreSQL will not use it;
tests/publishing/test_search.py checks that it does. Other databases get nothing: their search
matches words against PublicArticle.search_document instead.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations

INDEX_NAME = "publicarticle_search_gin"


def _index() -> GinIndex:
    return GinIndex(
        SearchVector("title", weight="A", config="english") + SearchVector("body", weight="B", config="english"),
        name=INDEX_NAME,
    )


def add_search_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("publishing", "PublicArticle"), _index())


def remove_search_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("publishing", "PublicArticle"), _index())


class Migration(migrations.Migration):
    dependencies = [("publishing", "0001_initial")]

    operations = [migrations.RunPython(add_search_index, remove_search_index, elidable=False)]
