from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from publishing.models import PublicArticle


@admin.register(PublicArticle)
class PublicArticleAdmin(admin.ModelAdmin):
    """Read-only: the public copies are built from the articles domain's events alone."""

    list_display = ("title", "slug", "author_name", "revision", "is_public", "published_at", "changed_at")
    list_filter = ("is_public",)
    search_fields = ("title", "slug", "=article_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PublicArticle | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PublicArticle | None = None) -> bool:
        return False
