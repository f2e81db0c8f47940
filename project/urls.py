from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/auth/token/", obtain_auth_token, name="api-token"),
    path("api/auth/", include("rest_framework.urls")),
    path("api/", include("orders.api.urls")),
    path("api/", include("inventory.api.urls")),
    path("api/", include("articles.api.urls")),
    path("api/", include("publishing.api.urls")),
    path("api/", include("users.api.urls")),
    path("api/", include("notifications.api.urls")),
    path("api/", include("project.messaging.api.urls")),
    path("feeds/", include("publishing.urls")),
]
