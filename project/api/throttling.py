"""Rate limits on the endpoints worth guessing at or flooding: logins, registration, order placement.

The counters live in Django's default cache, which is Redis (CACHES in project/settings.py), so
every web process and every host shares one limit: ten logins a minute means ten, not ten per
gunicorn worker. Rates are ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (set from the environment:
THROTTLE_LOGIN_RATE, THROTTLE_REGISTRATION_RATE, THROTTLE_ORDER_PLACEMENT_RATE), read at each
request. A refused request is a 429 problem document with Retry-After.

A client is its address as ``REST_FRAMEWORK["NUM_PROXIES"]`` says to read it: REMOTE_ADDR by
default, so a made-up X-Forwarded-For header cannot buy a fresh allowance; behind N trusted
proxies, set NUM_PROXIES=N.

If the cache cannot be reached the request is let through and the fault logged: the broker is the
same Redis, so an outage already shows on /health/, and refusing every login because the counter
is down would turn a Redis outage into a full one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import structlog
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from project.api.errors import too_many_requests

logger = structlog.get_logger(__name__)


class SharedRateThrottle(SimpleRateThrottle):
    """A DRF rate throttle counting in the shared cache, with the rate read at each request."""

    def get_rate(self) -> str | None:
        # DRF's own reads the rates once, at import; reading them here honours override_settings.
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError as exc:
            raise ImproperlyConfigured(f"No rate for throttle scope {self.scope!r} in DEFAULT_THROTTLE_RATES.") from exc

    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError) as exc:
            logger.error("throttle cache unavailable; request let through", scope=self.scope, error=type(exc).__name__)
            return True


class ClientAddressRateThrottle(SharedRateThrottle):
    """Counts per client address, signed in or not."""

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginRateThrottle(ClientAddressRateThrottle):
    """Password attempts: the token endpoint, the API's session login and the admin login share it."""

    scope = "login"


class RegistrationRateThrottle(ClientAddressRateThrottle):
    scope = "registration"


class OrderPlacementRateThrottle(SharedRateThrottle):
    """Orders placed per customer (per address for the anonymous, who are refused anyway)."""

    scope = "order_placement"

    def get_cache_key(self, request: Any, view: Any) -> str:
        user = getattr(request, "user", None)
        ident = f"user-{user.pk}" if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


def throttle_posts(throttle_class: type[SharedRateThrottle]) -> Callable[[Callable], Callable]:
    """Rate-limit the POSTs of a plain Django view (a login form) with a DRF throttle class."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def throttled_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST":
                throttle = throttle_class()
                if not throttle.allow_request(request, None):
                    return too_many_requests(request, throttle.wait())
            return view(request, *args, **kwargs)

        return throttled_view

    return decorator
