from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from publishing import selectors
from publishing.api.serializers import PublicArticleSerializer, PublicSearchSerializer
from publishing.models import PublicArticle


class PublicArticlePagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class PublicArticleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Published articles, readable by anyone without logging in. Newest first."""

    serializer_class = PublicArticleSerializer
    # Who asks does not matter: no authentication, so even a stale token cannot get a 401 here.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    pagination_class = PublicArticlePagination
    lookup_field = "slug"
    filter_backends: list = []

    def get_queryset(self):
        return selectors.public_article_list()

    def get_object(self) -> PublicArticle:
        article = selectors.public_article_for_slug(self.kwargs["slug"])
        if article is None:
            raise Http404("No public article has this slug.")
        return article

    @extend_schema(
        parameters=[OpenApiParameter("q", str, required=True, description="Words to search for.")],
        responses={200: PublicArticleSerializer(many=True)},
    )
    @action(detail=False, methods=["get"])
    def search(self, request: Request) -> Response:
        """Full-text search over titles and bodies, best match first."""
        incoming = PublicSearchSerializer(data=request.query_params)
        incoming.is_valid(raise_exception=True)
        found = selectors.public_article_search(incoming.validated_data["q"])
        page = self.paginate_queryset(found)
        return self.get_paginated_response(PublicArticleSerializer(page, many=True).data)
