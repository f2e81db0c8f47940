from django.urls import path

from publishing.site import views

# Search is ``?q=`` on the list, not a path of its own, so that no slug (not even "search") is
# shadowed by it.
urlpatterns = [
    path("", views.article_list, name="public-site-article-list"),
    path("<slug:key>/", views.article_detail, name="public-site-article-detail"),
]
