from django.urls import path

from publishing.feeds import LatestArticlesAtomFeed, LatestArticlesFeed

urlpatterns = [
    path("articles/rss/", LatestArticlesFeed(), name="articles-feed-rss"),
    path("articles/atom/", LatestArticlesAtomFeed(), name="articles-feed-atom"),
]
