from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from articles import selectors, services
from articles.api.serializers import ArticleCreateSerializer, ArticleEditSerializer, ArticleSerializer
from articles.models import Article


class OwnArticleOrChangePermission(BasePermission):
    """An author edits and moves their own articles; someone else's (which only staff see) needs
    ``articles.change_article``, as the admin's publish and unpublish actions do."""

    message = "Changing another author's article needs the articles.change_article permission."

    def has_object_permission(self, request: Request, view: object, obj: Article) -> bool:
        user = request.user
        return request.method in SAFE_METHODS or obj.author_id == user.pk or user.has_perm("articles.change_article")


_CONFLICT = OpenApiResponse(description="The article's state does not allow this move.")


class ArticleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Authors write, publish and unpublish their own articles; staff read everyone's and, with
    articles.change_article, change them (403 without it).

    Another author's article is a 404 for a non-staff user: its existence is not disclosed.
    """

    serializer_class = ArticleSerializer
    permission_classes = [IsAuthenticated, OwnArticleOrChangePermission]
    filterset_fields = ["status"]

    def get_queryset(self):
        return selectors.article_list_for(self.request.user)

    @extend_schema(request=ArticleCreateSerializer, responses={201: ArticleSerializer})
    def create(self, request: Request) -> Response:
        incoming = ArticleCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        user = request.user
        article = services.article_create(
            author_id=user.pk, author_name=user.get_full_name() or user.get_username(), **incoming.validated_data
        )
        return Response(ArticleSerializer(article).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ArticleEditSerializer, responses={200: ArticleSerializer, 409: _CONFLICT})
    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        article = self.get_object()
        incoming = ArticleEditSerializer(data=request.data, partial=partial)
        incoming.is_valid(raise_exception=True)
        article = services.article_edit(article_id=article.pk, **incoming.validated_data)
        return Response(ArticleSerializer(article).data)

    @extend_schema(request=ArticleEditSerializer(partial=True), responses={200: ArticleSerializer, 409: _CONFLICT})
    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    def _move(self, service) -> Response:
        article = self.get_object()
        article = service(article_id=article.pk)
        return Response(ArticleSerializer(article).data)

    @extend_schema(request=None, responses={200: ArticleSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        """Publish a draft."""
        return self._move(services.article_publish)

    @extend_schema(request=None, responses={200: ArticleSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def unpublish(self, request: Request, pk: str) -> Response:
        """Withdraw a published article from the public."""
        return self._move(services.article_unpublish)

    @extend_schema(request=None, responses={200: ArticleSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def redraft(self, request: Request, pk: str) -> Response:
        """Take an unpublished article back to draft, to edit and publish it again."""
        return self._move(services.article_redraft)
