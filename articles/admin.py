from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from articles import services
from articles.models import Article
from project.admin import DomainErrorAdmin


def _apply(
    modeladmin: DomainErrorAdmin, request: HttpRequest, queryset: QuerySet[Article], service: Callable, done: str
) -> None:
    """Call the service once per article (each its own transaction); report refusals one by one."""
    count = 0
    for article in queryset:
        with modeladmin.refusal_reported(request):
            service(article_id=article.pk)
            count += 1
    if count:
        modeladmin.message_user(request, f"{count} article(s) {done}.", level=messages.SUCCESS)


@admin.action(description="Publish selected drafts", permissions=["change"])
def publish_articles(modeladmin: DomainErrorAdmin, request: HttpRequest, queryset: QuerySet[Article]) -> None:
    _apply(modeladmin, request, queryset, services.article_publish, "published")


@admin.action(description="Unpublish selected articles", permissions=["change"])
def unpublish_articles(modeladmin: DomainErrorAdmin, request: HttpRequest, queryset: QuerySet[Article]) -> None:
    _apply(modeladmin, request, queryset, services.article_unpublish, "unpublished")


@admin.register(Article)
class ArticleAdmin(DomainErrorAdmin):
    """Read-only view of articles; state changes go through the services (the actions), so that
    every change publishes its event. Publishing and unpublishing need ``articles.change_article``."""

    list_display = ("title", "slug", "author_name", "status", "revision", "published_at", "updated_at")
    list_filter = ("status", "published_at")
    search_fields = ("title", "slug", "author_name", "=author_id")
    date_hierarchy = "created_at"
    readonly_fields = (
        "id",
        "title",
        "slug",
        "body",
        "author_id",
        "author_name",
        "status",
        "revision",
        "created_at",
        "updated_at",
        "published_at",
    )
    actions = [publish_articles, unpublish_articles]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Article | None = None) -> bool:
        return False
