from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from articles.models import Article


def article_list_for(user: AbstractBaseUser) -> QuerySet[Article]:
    """Staff see every article; an author only their own (others' do not exist for them)."""
    articles = Article.objects.all()
    return articles if user.is_staff else articles.filter(author_id=user.pk)
