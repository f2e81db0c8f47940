"""A staff account reads; changing what is not one's own needs the model's permission as well:
creating products ``inventory.add_stockitem``, restocking and adjusting them
``inventory.change_stockitem`` (the API and the admin's restock action), publishing and unpublishing
articles from the admin and changing another author's article through the API
``articles.change_article``, cancelling another customer's order through the API
``orders.change_order``. What one owns stays one's own to change (an author's articles, a
customer's order), staff or not.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from articles.models import Article
from inventory.models import StockItem
from orders.models import Order
from orders.services import LineInput, order_place
from project.messaging.testing import TestBus
from tests.factories.articles import ArticleFactory, AuthorFactory
from tests.factories.inventory import StockItemFactory
from tests.factories.orders import CustomerFactory, KnownProductFactory, StaffFactory
from tests.security.test_operator_permissions import admin_of, api_of, staff_with

pytestmark = pytest.mark.django_db

ARMCHAIR = "CRUNCHY-ARMCHAIR"


# --- Inventory --------------------------------------------------------------------------------------


@pytest.fixture
def armchair() -> StockItem:
    return StockItemFactory(sku=ARMCHAIR, name="Crunchy armchair", on_hand=10)


def on_hand(sku: str = ARMCHAIR) -> int:
    return StockItem.objects.get(sku=sku).on_hand


def stock_writes(api: APIClient) -> list[int]:
    return [
        api.post(
            "/api/products/", {"sku": "SHINY-LAMP", "name": "Shiny lamp", "on_hand": 3}, format="json"
        ).status_code,
        api.post(f"/api/products/{ARMCHAIR}/restock/", {"quantity": 5}, format="json").status_code,
        api.post(f"/api/products/{ARMCHAIR}/adjust/", {"on_hand": 50, "reason": "counted"}, format="json").status_code,
    ]


def admin_restock(user, item: StockItem):
    form = {"action": "restock", "_selected_action": [str(item.pk)], "quantity": "7"}
    return admin_of(user).post("/admin/inventory/stockitem/", form)


def test_staff_without_inventory_permissions_read_stock_but_cannot_change_it(armchair: StockItem) -> None:
    stan = staff_with("stan", "inventory.view_stockitem")
    api = api_of(stan)
    assert api.get(f"/api/products/{ARMCHAIR}/").status_code == 200
    assert stock_writes(api) == [403, 403, 403]
    listing = admin_of(stan).get("/admin/inventory/stockitem/")
    assert listing.status_code == 200 and 'value="restock"' not in listing.content.decode()
    admin_restock(stan, armchair)  # not one of the offered actions: nothing runs
    assert on_hand() == 10 and not StockItem.objects.filter(sku="SHINY-LAMP").exists()


def test_creating_a_product_needs_add_and_restocking_or_adjusting_needs_change(armchair: StockItem) -> None:
    adder = api_of(staff_with("adam", "inventory.add_stockitem"))
    assert stock_writes(adder) == [201, 403, 403]
    changer = api_of(staff_with("cora", "inventory.change_stockitem"))
    response = changer.post("/api/products/", {"sku": "WOBBLY-TABLE", "name": "Wobbly table"}, format="json")
    assert response.status_code == 403
    assert changer.post(f"/api/products/{ARMCHAIR}/restock/", {"quantity": 5}, format="json").status_code == 200
    adjusted = changer.post(f"/api/products/{ARMCHAIR}/adjust/", {"on_hand": 50, "reason": "counted"}, format="json")
    assert adjusted.status_code == 200 and on_hand() == 50


def test_staff_with_inventory_change_stockitem_restock_from_the_admin(armchair: StockItem) -> None:
    cora = staff_with("cora", "inventory.change_stockitem")
    assert 'value="restock"' in admin_of(cora).get("/admin/inventory/stockitem/").content.decode()
    assert admin_restock(cora, armchair).status_code == 302
    assert on_hand() == 17


def test_a_customer_still_cannot_change_stock_whatever_permission_they_hold(armchair: StockItem) -> None:
    customer = CustomerFactory(username="alice")
    customer.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="inventory", codename__in=["add_stockitem", "change_stockitem"]
        )
    )
    assert stock_writes(api_of(customer)) == [403, 403, 403]


# --- Articles ----------------------------------------------------------------------------------------


@pytest.fixture
def graces_draft() -> Article:
    return ArticleFactory(author=AuthorFactory(username="grace"), title="Grace's draft")


def article_writes(api: APIClient, article: Article) -> list[int]:
    base = f"/api/articles/{article.pk}/"
    return [
        api.patch(base, {"title": "Retitled"}, format="json").status_code,
        api.put(base, {"title": "Rewritten", "body": "Rewritten words."}, format="json").status_code,
        api.post(base + "publish/").status_code,
        api.post(base + "unpublish/").status_code,
    ]


def test_staff_without_articles_change_article_read_but_cannot_change_another_authors_article(
    graces_draft: Article,
) -> None:
    stan = staff_with("stan", "articles.view_article")
    api = api_of(stan)
    assert api.get(f"/api/articles/{graces_draft.pk}/").status_code == 200
    assert article_writes(api, graces_draft) == [403, 403, 403, 403]
    assert api.post(f"/api/articles/{graces_draft.pk}/redraft/").status_code == 403
    graces_draft.refresh_from_db()
    assert (graces_draft.title, graces_draft.status) == ("Grace's draft", "draft")

    listing = admin_of(stan).get("/admin/articles/article/")
    assert listing.status_code == 200
    assert 'value="publish_articles"' not in listing.content.decode()
    admin_of(stan).post(
        "/admin/articles/article/", {"action": "publish_articles", "_selected_action": [str(graces_draft.pk)]}
    )
    graces_draft.refresh_from_db()
    assert graces_draft.status == "draft"


def test_staff_with_articles_change_article_change_another_authors_article(graces_draft: Article) -> None:
    api = api_of(staff_with("edith", "articles.change_article"))
    assert article_writes(api, graces_draft) == [200, 200, 200, 200]


def test_staff_with_articles_change_article_publish_and_unpublish_from_the_admin(graces_draft: Article) -> None:
    admin = admin_of(staff_with("edith", "articles.change_article"))
    listing = admin.get("/admin/articles/article/").content.decode()
    assert 'value="publish_articles"' in listing and 'value="unpublish_articles"' in listing
    for action, status in (("publish_articles", "published"), ("unpublish_articles", "unpublished")):
        assert (
            admin.post(
                "/admin/articles/article/", {"action": action, "_selected_action": [str(graces_draft.pk)]}
            ).status_code
            == 302
        )
        graces_draft.refresh_from_db()
        assert graces_draft.status == status


def test_a_staff_author_changes_their_own_articles_without_the_permission() -> None:
    stan = StaffFactory(username="stan")
    own = ArticleFactory(author=stan)
    assert article_writes(api_of(stan), own) == [200, 200, 200, 200]


# --- Orders: cancelling through the API ------------------------------------------------------------------


@pytest.fixture
def bobs_order(bus: TestBus) -> Order:
    StockItemFactory(sku=ARMCHAIR, on_hand=10)
    KnownProductFactory(sku=ARMCHAIR)
    bob = CustomerFactory(username="bob")
    order = order_place(customer_id=bob.pk, lines=[LineInput(ARMCHAIR, 1, Decimal("99.00"))]).order
    bus.take_pending()
    return order


def cancel(user, order: Order) -> int:
    return api_of(user).post(f"/api/orders/{order.pk}/cancel/", {"reason": "asked by phone"}, format="json").status_code


def test_staff_without_orders_change_order_cannot_cancel_another_customers_order(bobs_order: Order) -> None:
    stan = staff_with("stan", "orders.view_order")
    assert api_of(stan).get(f"/api/orders/{bobs_order.pk}/").status_code == 200
    assert cancel(stan, bobs_order) == 403
    bobs_order.refresh_from_db()
    assert bobs_order.status == "reserving"


def test_staff_with_orders_change_order_cancel_another_customers_order(bobs_order: Order, bus: TestBus) -> None:
    assert cancel(staff_with("otto", "orders.change_order"), bobs_order) == 202
    bus.drain()  # the release of the reserved armchair, then the cancellation
    bobs_order.refresh_from_db()
    assert bobs_order.status == "cancelled"


def test_a_customer_cancels_their_own_order_without_any_permission(bobs_order: Order) -> None:
    bob = get_user_model().objects.get(pk=bobs_order.customer_id)
    assert cancel(bob, bobs_order) == 202
