"""The login endpoints, rate-limited together per client address (project.api.throttling).

- ``ObtainAuthTokenView``: POST /api/auth/token/ (username, password) -> the account's API token;
- ``session_login``: the browsable API's login form (/api/auth/login/);
- ``admin_login``: the admin's login form (/admin/login/).

Passwords are marked sensitive, so that Django's error reports never show them.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from rest_framework import parsers
from rest_framework.authtoken.views import ObtainAuthToken

from project.api.parsers import JSONParser
from project.api.throttling import LoginRateThrottle, throttle_posts


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class ObtainAuthTokenView(ObtainAuthToken):
    """Exchange a username and password for the account's API token (``Authorization: Token <key>``)."""

    throttle_classes = [LoginRateThrottle]
    parser_classes = [JSONParser, parsers.FormParser, parsers.MultiPartParser]


session_login = throttle_posts(LoginRateThrottle)(LoginView.as_view(template_name="rest_framework/login.html"))
admin_login = throttle_posts(LoginRateThrottle)(admin.site.login)
