from django.urls import path

from users.api.views import MePreferencesView, MeView, RegisterView

urlpatterns = [
    path("users/register/", RegisterView.as_view(), name="user-register"),
    path("users/me/", MeView.as_view(), name="user-me"),
    path("users/me/preferences/", MePreferencesView.as_view(), name="user-me-preferences"),
]
