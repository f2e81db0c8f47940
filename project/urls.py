from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from health_check.views import HealthCheckView

from project.api.auth import ObtainAuthTokenView, admin_login, session_login
from project.api.docs import RedocView, redoc_bundle
from project.api.root import ApiRootView
from project.observability.health import HealthView
from project.observability.metrics import metrics_view

urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
    path("health/", HealthView.as_view(), name="health"),  # details for staff and the metrics token only
    path("health/live/", HealthCheckView.as_view(checks=()), name="health-live"),
    # The login forms, rate-limited (project.api.auth); listed before the routes they shadow.
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    path("api/", ApiRootView.as_view(), name="api-root"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
    path("api/redoc/redoc.standalone.js", redoc_bundle, name="redoc-bundle"),
    path("api/auth/token/", ObtainAuthTokenView.as_view(), name="api-token"),
    path("api/auth/login/", session_login),
    path("api/auth/", include("rest_framework.urls")),
    path("api/", include("orders.api.urls")),
    path("api/", include("inventory.api.urls")),
    path("api/", include("articles.api.urls")),
    path("api/", include("publishing.api.urls")),
    path("api/", include("users.api.urls")),
    path("api/", include("notifications.api.urls")),
    path("api/", include("project.messaging.operations.api.urls")),
    path("feeds/", include("publishing.urls")),
    path("articles/", include("publishing.site.urls")),  # the public site, HTML for readers
]

# Errors Django answers itself: problem+json documents under /api/, Django's pages elsewhere.
handler400 = "project.api.errors.bad_request"
handler403 = "project.api.errors.permission_denied"
handler404 = "project.api.errors.page_not_found"
handler500 = "project.api.errors.server_error"
