"""Property-based tests of the whole API against its own OpenAPI schema (schemathesis), in process.

For every operation of /api/schema/, as a customer and as staff (API tokens), schemathesis sends
schema-valid and schema-violating requests and checks that:

- no response is a server error (5xx);
- every status code is one the operation documents;
- every body has the documented content type and matches the documented schema (problem+json
  documents included), and documented headers (Retry-After...) are as described.

Path parameters are drawn from random values *and* from real objects of the seeded world (own and
other people's orders and articles, real SKUs and slugs, a real correlation id), and some orders
are for real products and some logins use a real password, so that the success paths are
exercised too, not only 404s and 400s.

The staff user holds the model permissions of the staff's write operations (STAFF_PERMISSIONS), so
that those are exercised too; without them they answer 403 (test_permissions_matrix.py).

Bounded and repeatable for CI: SCHEMATHESIS_MAX_EXAMPLES examples per operation and role
(default 10), a fixed seed and derandomized generation, no example database on disk. Every
operation of the schema is tested: nothing is excluded.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from django.core import signals
from django.db import close_old_connections
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from project.wsgi import application
from tests.security.conftest import World, build_world, clear_throttle_counters, password_of

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# What staff need to change things besides reading them (the security section of docs/operations.md).
STAFF_PERMISSIONS = {
    "inventory": ["add_stockitem", "change_stockitem"],
    "articles": ["change_article"],
    "orders": ["change_order"],
    "messaging": ["view_deadletter"],
}
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10"))

config = schemathesis.Config.from_dict(
    {
        "seed": 20261126,
        "suppress-health-check": ["all"],
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    }
)
schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=config)

# The seeded world of the running test, for the path-parameter hook below.
_current: dict[str, World] = {}


def _known_values(path: str, world: World) -> dict[str, list[Any]]:
    if path.startswith("/api/orders/{id}"):
        return {"id": [str(order.pk) for order in world.orders.values()]}
    if path.startswith("/api/articles/{id}"):
        return {"id": [str(article.pk) for article in world.articles.values()]}
    if path.startswith("/api/products/{sku}"):
        return {"sku": list(world.skus)}
    if path.startswith("/api/public/articles/{slug}"):
        return {"slug": [world.public_slug]}
    if "{correlation_id}" in path:
        return {"correlation_id": [str(world.correlation_id)]}
    return {}


@schema.hook
def flatmap_path_parameters(context: schemathesis.HookContext, path_parameters: dict[str, Any]) -> Any:
    """Half the time (as Hypothesis chooses), replace a generated path parameter by a real one."""
    world = _current.get("world")
    if world is None or context.operation is None:
        return st.just(path_parameters)
    known = _known_values(context.operation.path, world)
    choices = [
        st.just(path_parameters),
        *(
            st.sampled_from(values).map(lambda value, name=name: {**path_parameters, name: value})
            for name, values in known.items()
            if name in path_parameters
        ),
    ]
    return st.one_of(choices)


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> Any:
    """Orders for real products and logins with a real password, besides the generated ones."""
    world = _current.get("world")
    if world is None or context.operation is None or context.operation.method.upper() != "POST":
        return st.just(body)
    path = context.operation.path
    if path == "/api/orders/" and isinstance(body, dict):
        real_line = st.fixed_dictionaries(
            {"sku": st.sampled_from(world.skus), "quantity": st.integers(1, 5), "unit_price": st.just("19.99")}
        )
        return st.one_of(st.just(body), st.lists(real_line, min_size=1, max_size=2).map(lambda lines: {"lines": lines}))
    if path == "/api/auth/token/":
        user = world.users["customer"]
        return st.one_of(st.just(body), st.just({"username": user.username, "password": password_of(user.username)}))
    return st.just(body)


@pytest.fixture
def seeded_world(db: None) -> Iterator[World]:
    # Requests go through the real WSGI handler, which closes "old" database connections when a
    # request starts and ends; inside the test's transaction that would break it (Django's test
    # client disconnects the same handler for the same reason).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    clear_throttle_counters()
    world = build_world()
    for app_label, codenames in STAFF_PERMISSIONS.items():
        world.users["staff"].user_permissions.add(
            *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        )
    _current["world"] = world
    # Thousands of 4xx answers, each a "Bad Request"/"Not Found" warning: only a 5xx is news here.
    request_logger = logging.getLogger("django.request")
    level = request_logger.level
    request_logger.setLevel(logging.ERROR)
    try:
        yield world
    finally:
        request_logger.setLevel(level)
        _current.pop("world", None)
        clear_throttle_counters()
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.parametrize("role", ["customer", "staff"])
@schema.parametrize()
def test_every_operation_answers_as_documented_and_never_with_a_server_error(
    case: schemathesis.Case, role: str, seeded_world: World
) -> None:
    case.call_and_validate(headers=seeded_world.token_header(role), checks=CHECKS)
