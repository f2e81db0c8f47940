from __future__ import annotations

from rest_framework import serializers

from publishing.models import PublicArticle


class PublicArticleSerializer(serializers.ModelSerializer):
    class Meta:
        model = PublicArticle
        fields = ["article_id", "slug", "title", "body", "author_name", "revision", "published_at"]
        read_only_fields = fields


class PublicSearchSerializer(serializers.Serializer):
    q = serializers.CharField(max_length=200, help_text="Words to find in titles and bodies.")
