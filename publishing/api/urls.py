from rest_framework.routers import SimpleRouter

from publishing.api.views import PublicArticleViewSet

router = SimpleRouter()
router.register("public/articles", PublicArticleViewSet, basename="public-article")
urlpatterns = router.urls
