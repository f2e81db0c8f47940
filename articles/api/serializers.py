from __future__ import annotations

from rest_framework import serializers

from articles.models import Article


class ArticleCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    slug = serializers.SlugField(
        max_length=200, required=False, allow_blank=True, help_text="Defaults to the slugified title."
    )
    body = serializers.CharField(max_length=100_000, trim_whitespace=False)


class ArticleEditSerializer(serializers.Serializer):
    """PUT needs title and body; PATCH any of them. The slug changes only while a draft."""

    title = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=200, required=False)
    body = serializers.CharField(max_length=100_000, trim_whitespace=False)


class ArticleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Article
        fields = [
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
        ]
        read_only_fields = fields
