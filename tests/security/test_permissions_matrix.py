"""Who may do what: every route of the project, for every role, on their own and on other people's
things (the world of tests/security/conftest.py: an order of each user, articles of the authors,
bob's order and grace's articles as everybody else's).

Roles: anonymous; customer (alice: an order, no article); author (ada: an order and articles);
staff (stan: is_staff, no model permissions); superuser (root). API calls carry the role's API
token, admin pages its session. ``-`` marks a cell that does not exist (the anonymous own
nothing; alice has no article of her own). Staff without model permissions read what staff read
(except the dead letters) and change nothing of anyone else's. Staff with some model permissions (a
clerk who may only look, an operator who may change things): test_operator_permissions.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission
from django.test import TestCase, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from orders.models import Order
from tests.security.conftest import ROLES, World, build_world, password_of

pytestmark = pytest.mark.django_db

_ = None  # not applicable
# /health/ says whether the system is healthy, whoever asks (no workers run here: 503); which check
# failed and why, only to staff and the METRICS_TOKEN bearer (tests/observability/test_health.py)
HEALTH = {200, 503}
METRICS_TOKEN = "a-scraper-token-for-the-matrix"

# fmt: off
#  method   path                                                    anonymous customer author  staff  superuser
MATRIX = [
    # orders: a customer sees and cancels their own; staff see everyone's; cancelling another's and
    # running the saga by hand needs orders.change_order
    ("GET",   "/api/orders/",                                          401,    200,    200,    200,    200),
    ("POST",  "/api/orders/",                                          401,    201,    201,    201,    201),
    ("GET",   "/api/orders/{own_order}/",                              _,      200,    200,    200,    200),
    ("GET",   "/api/orders/{other_order}/",                            401,    404,    404,    200,    200),
    ("GET",   "/api/orders/{own_order}/timeline/",                     _,      200,    200,    200,    200),
    ("GET",   "/api/orders/{other_order}/timeline/",                   401,    404,    404,    200,    200),
    ("POST",  "/api/orders/{own_order}/cancel/",                       _,      202,    202,    202,    202),
    ("POST",  "/api/orders/{other_order}/cancel/",                     401,    404,    404,    403,    202),
    ("POST",  "/api/orders/{own_order}/retry-step/",                   _,      403,    403,    403,    202),
    ("POST",  "/api/orders/{other_order}/retry-step/",                 401,    403,    403,    403,    202),
    ("POST",  "/api/orders/{own_order}/compensate/",                   _,      403,    403,    403,    202),
    ("POST",  "/api/orders/{other_order}/compensate/",                 401,    403,    403,    403,    202),
    # inventory: anyone signed in reads; staff create (inventory.add_stockitem), restock and adjust
    # (inventory.change_stockitem)
    ("GET",   "/api/products/",                                        401,    200,    200,    200,    200),
    ("GET",   "/api/products/{sku}/",                                  401,    200,    200,    200,    200),
    ("POST",  "/api/products/",                                        401,    403,    403,    403,    201),
    ("POST",  "/api/products/{sku}/restock/",                          401,    403,    403,    403,    200),
    ("POST",  "/api/products/{sku}/adjust/",                           401,    403,    403,    403,    200),
    # users: anyone registers; the rest is one's own account only (there is no one else's URL)
    ("POST",  "/api/users/register/",                                  201,    201,    201,    201,    201),
    ("GET",   "/api/users/me/",                                        401,    200,    200,    200,    200),
    ("PATCH", "/api/users/me/",                                        401,    200,    200,    200,    200),
    ("GET",   "/api/users/me/preferences/",                            401,    200,    200,    200,    200),
    ("PATCH", "/api/users/me/preferences/",                            401,    200,    200,    200,    200),
    # notifications: a list of one's own (staff: all), see the visibility tests below
    ("GET",   "/api/notifications/",                                   401,    200,    200,    200,    200),
    # articles: an author manages their own; another's does not exist for them; staff read all and
    # change another's with articles.change_article
    ("GET",   "/api/articles/",                                        401,    200,    200,    200,    200),
    ("POST",  "/api/articles/",                                        401,    201,    201,    201,    201),
    ("GET",   "/api/articles/{own_article}/",                          _,      _,      200,    200,    200),
    ("GET",   "/api/articles/{other_article}/",                        401,    404,    404,    200,    200),
    ("PATCH", "/api/articles/{own_article}/",                          _,      _,      200,    200,    200),
    ("PATCH", "/api/articles/{other_article}/",                        401,    404,    404,    403,    200),
    ("PUT",   "/api/articles/{other_article}/",                        401,    404,    404,    403,    200),
    ("POST",  "/api/articles/{own_article}/publish/",                  _,      _,      200,    200,    200),
    ("POST",  "/api/articles/{other_article}/publish/",                401,    404,    404,    403,    200),
    ("POST",  "/api/articles/{other_published}/unpublish/",            401,    404,    404,    403,    200),
    ("POST",  "/api/articles/{other_unpublished}/redraft/",            401,    404,    404,    403,    200),
    # publishing: public, no authentication at all
    ("GET",   "/api/public/articles/",                                 200,    200,    200,    200,    200),
    ("GET",   "/api/public/articles/{slug}/",                          200,    200,    200,    200,    200),
    ("GET",   "/api/public/articles/search/?q=armchair",               200,    200,    200,    200,    200),
    ("GET",   "/feeds/articles/rss/",                                  200,    200,    200,    200,    200),
    ("GET",   "/feeds/articles/atom/",                                 200,    200,    200,    200,    200),
    # the public site (HTML): the same, and only reads
    ("GET",   "/articles/",                                            200,    200,    200,    200,    200),
    ("GET",   "/articles/?q=armchair",                                 200,    200,    200,    200,    200),
    ("GET",   "/articles/{slug}/",                                     200,    200,    200,    200,    200),
    ("POST",  "/articles/{slug}/",                                     405,    405,    405,    405,    405),
    # messaging: staff only
    ("GET",   "/api/messaging/correlations/{correlation}/timeline/",   401,    403,    403,    200,    200),
    # logging in, and the API's documentation
    ("POST",  "/api/auth/token/",                                      400,    400,    400,    400,    400),
    ("GET",   "/api/auth/login/",                                      200,    200,    200,    200,    200),
    ("GET",   "/api/schema/",                                          200,    200,    200,    200,    200),
    ("GET",   "/api/docs/",                                            200,    200,    200,    200,    200),
    ("GET",   "/api/redoc/",                                           200,    200,    200,    200,    200),
    ("GET",   "/api/redoc/redoc.standalone.js",                        200,    200,    200,    200,    200),
    ("GET",   "/api/",                                                 200,    200,    200,    200,    200),
    # operations: /metrics wants its bearer token (METRICS_TOKEN), never a user's credentials
    ("GET",   "/metrics",                                              401,    401,    401,    401,    401),
    ("GET",   "/health/live/",                                         200,    200,    200,    200,    200),
    ("GET",   "/health/",                                              HEALTH, HEALTH, HEALTH, HEALTH, HEALTH),
    # the admin: staff only (customers and authors are sent to the login page); model pages need
    # model permissions: reading the dead letters messaging.view_deadletter, replaying and
    # discarding them messaging.change_deadletter, the saga's pages orders.change_order (POSTs, and
    # the actions: test_operator_permissions.py)
    ("GET",   "/admin/",                                               302,    302,    302,    200,    200),
    ("GET",   "/admin/orders/order/",                                  302,    302,    302,    403,    200),
    ("GET",   "/admin/orders/order/{other_order}/retry-step/",         302,    302,    302,    403,    200),
    ("GET",   "/admin/orders/order/{other_order}/compensate/",         302,    302,    302,    403,    200),
    ("GET",   "/admin/messaging/deadletter/",                          302,    302,    302,    403,    200),
    ("GET",   "/admin/messaging/deadletter/groups/",                   302,    302,    302,    403,    200),
    ("GET",   "/admin/messaging/deadletter/{dead_letter}/change/",     302,    302,    302,    403,    200),
    ("GET",   "/admin/messaging/deadletter/{dead_letter}/discard/",    302,    302,    302,    403,    200),
]
# fmt: on

BODIES = {
    ("POST", "/api/orders/"): {"lines": [{"sku": "CRUNCHY-ARMCHAIR", "quantity": 1, "unit_price": "10.00"}]},
    ("POST", "/api/orders/{own_order}/retry-step/"): {"reason": "inventory was redeployed"},
    ("POST", "/api/orders/{other_order}/retry-step/"): {"reason": "inventory was redeployed"},
    ("POST", "/api/orders/{own_order}/compensate/"): {"reason": "the warehouse flooded"},
    ("POST", "/api/orders/{other_order}/compensate/"): {"reason": "the warehouse flooded"},
    ("POST", "/api/products/"): {"sku": "SHINY-LAMP", "name": "Shiny lamp", "on_hand": 3},
    ("POST", "/api/products/{sku}/restock/"): {"quantity": 5},
    ("POST", "/api/products/{sku}/adjust/"): {"on_hand": 50, "reason": "counted again"},
    ("POST", "/api/users/register/"): {"username": "newcomer", "email": "new@example.com", "password": "n3w-c0mer-pw!"},
    ("PATCH", "/api/users/me/"): {"display_name": "Someone new"},
    ("PATCH", "/api/users/me/preferences/"): {"new_articles": True},
    ("POST", "/api/articles/"): {"title": "A fresh article", "body": "Fresh words."},
    ("PATCH", "/api/articles/{own_article}/"): {"title": "Retitled"},
    ("PATCH", "/api/articles/{other_article}/"): {"title": "Retitled by someone else"},
    ("PUT", "/api/articles/{other_article}/"): {"title": "Rewritten", "body": "Rewritten words."},
    ("POST", "/api/auth/token/"): {"username": "alice", "password": "not-her-password"},
}


def cells() -> Iterator[tuple[str, str, str, int | set[int]]]:
    for method, path, *expected in MATRIX:
        for role, status in zip(ROLES, expected, strict=True):
            if status is not None:
                yield method, path, role, status


def url_in(world: World, path: str, role: str) -> str:
    return path.format(
        own_order=world.orders.get(role, world.orders["customer"]).pk,
        other_order=world.orders["other_customer"].pk,
        own_article=world.articles[role].pk if role in world.articles else "",
        other_article=world.articles["other_author"].pk,
        other_published=world.articles["other_author_published"].pk,
        other_unpublished=world.articles["other_author_unpublished"].pk,
        sku="CRUNCHY-ARMCHAIR",
        slug=world.public_slug,
        correlation=world.correlation_id,
        dead_letter=world.dead_letter.pk,
    )


def client_for(world: World, role: str) -> APIClient:
    """The role's API token on every request, and its admin session."""
    client = APIClient()
    if role != "anonymous":
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
        client.force_login(world.users[role])
    return client


@override_settings(METRICS_TOKEN=METRICS_TOKEN)
class PermissionsMatrixTests(TestCase):
    """One test per cell of MATRIX (added below), all on one world built once: each test runs in
    its own savepoint, rolled back after it, so a cell that changes something (a cancelled order)
    never changes what the next one sees."""

    world: World

    @classmethod
    def setUpTestData(cls) -> None:
        cls.world = build_world()

    def answer(self, method: str, path: str, role: str, expected: int | set[int]) -> None:
        client = client_for(self.world, role)
        body = BODIES.get((method, path))
        send = getattr(client, method.lower())
        url = url_in(self.world, path, role)
        response = send(url, body, format="json") if body else send(url)

        allowed = expected if isinstance(expected, set) else {expected}
        assert response.status_code in allowed, (method, url, role, response.status_code, response.content[:300])
        if response.status_code == 302:
            assert response["Location"].startswith("/admin/login/")


def _cell_test(method: str, path: str, role: str, expected: int | set[int]):
    def test(self: PermissionsMatrixTests) -> None:
        self.answer(method, path, role, expected)

    return test


for _method, _path, _role, _expected in cells():
    _name = re.sub(r"\W+", "_", f"test {_method} {_path} as {_role}").strip("_")
    setattr(PermissionsMatrixTests, _name, _cell_test(_method, _path, _role, _expected))


def test_the_matrix_has_a_test_for_every_cell() -> None:
    generated = [name for name in dir(PermissionsMatrixTests) if name.startswith("test_")]
    assert len(generated) == len(list(cells())) > 200


def routes(patterns: list, prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def shape(path: str) -> str:
    """A route or a matrix path, parameters replaced by one marker: "api/orders/<>"."""
    path = re.sub(r"<[^>]+>|\{[^}]+\}|\(\?P<[^>]+>[^)]+\)", "<>", path)
    return path.replace("^", "").replace("$", "").strip("/")


def test_every_route_outside_the_admin_is_in_the_matrix() -> None:
    served = {
        shape(route)
        for route in routes(get_resolver().url_patterns)
        if not route.startswith("admin/") and "format" not in route and not route.endswith("logout/")
    }
    in_matrix = {shape(path.split("?")[0]) for _, path, *_ in MATRIX}
    assert len(served) > 30
    assert sorted(served - in_matrix) == []


# --- What lists show ------------------------------------------------------------------------------


def ids_listed(client: APIClient, path: str, key: str = "id") -> set[str]:
    return {str(item[key]) for item in client.get(path).json()["results"]}


def test_a_customer_lists_only_their_own_orders_and_staff_list_everyones(world: World) -> None:
    assert ids_listed(client_for(world, "customer"), "/api/orders/") == {str(world.orders["customer"].pk)}
    assert ids_listed(client_for(world, "staff"), "/api/orders/") == {str(o.pk) for o in Order.objects.all()}


def test_a_customer_cannot_filter_their_way_to_someone_elses_orders(world: World) -> None:
    bob = world.users["other_customer"].pk
    assert ids_listed(client_for(world, "customer"), f"/api/orders/?customer_id={bob}") == set()


def test_an_author_lists_only_their_own_articles_and_staff_list_everyones(world: World) -> None:
    mine = {str(world.articles[name].pk) for name in ("author", "author_published")}
    assert ids_listed(client_for(world, "author"), "/api/articles/") == mine
    assert ids_listed(client_for(world, "staff"), "/api/articles/") == {str(a.pk) for a in world.articles.values()}


def test_a_customer_lists_only_their_own_notifications(world: World) -> None:
    listed = client_for(world, "customer").get("/api/notifications/").json()["results"]
    assert {n["user_id"] for n in listed} == {world.users["customer"].pk}


def test_only_staff_with_the_view_permission_list_everyones_notifications(world: World) -> None:
    # Notifications carry email addresses: being staff is not enough.
    everyone = {world.users["customer"].pk, world.users["other_customer"].pk}
    listed = client_for(world, "staff").get("/api/notifications/").json()["results"]
    assert {n["user_id"] for n in listed} <= {world.users["staff"].pk}
    world.users["staff"].user_permissions.add(Permission.objects.get(codename="view_notification"))
    listed = client_for(world, "staff").get("/api/notifications/").json()["results"]
    assert {n["user_id"] for n in listed} == everyone
    listed = client_for(world, "superuser").get("/api/notifications/").json()["results"]
    assert {n["user_id"] for n in listed} == everyone


def test_a_customer_sees_only_the_events_of_their_order_timeline_not_the_deliveries(world: World) -> None:
    order = world.orders["customer"].pk
    mine = client_for(world, "customer").get(f"/api/orders/{order}/timeline/").json()["events"]
    staff_view = client_for(world, "staff").get(f"/api/orders/{order}/timeline/").json()["events"]
    assert mine and {e["kind"] for e in mine} == {"event"}
    assert len(staff_view) >= len(mine)


# --- The admin: staff only -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["customer", "author"])
def test_a_customer_cannot_log_into_the_admin_with_their_own_password(world: World, role: str) -> None:
    client = APIClient()
    user = world.users[role]
    response = client.post("/admin/login/", {"username": user.username, "password": password_of(user.username)})
    assert response.status_code == 200  # the form again, with its error
    assert "staff account" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_staff_log_into_the_admin_with_their_password(world: World) -> None:
    client = APIClient()
    user = world.users["staff"]
    response = client.post("/admin/login/", {"username": user.username, "password": password_of(user.username)})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


@override_settings(METRICS_TOKEN=METRICS_TOKEN)
def test_metrics_answer_the_scrapers_bearer_token(world: World) -> None:
    client = APIClient()
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer a-guess").status_code == 401
