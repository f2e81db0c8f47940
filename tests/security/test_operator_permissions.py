"""Operator powers need their model's permission, not just a staff account: reading dead letters
needs ``messaging.view_deadletter`` (the admin's pages, and the dead letters in timelines),
replaying and discarding them ``messaging.change_deadletter`` (project/messaging/operations/admin.py; there is
no dead-letter endpoint in the API), running a saga by hand and cancelling orders from the admin
``orders.change_order`` (orders/admin.py, orders/api/views.py). Stock, articles and cancelling
another customer's order through the API: test_staff_write_permissions.py.

Two staff members: ``clara`` the clerk may view dead letters and orders and change nothing;
``otto`` the operator has the change permissions.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from rest_framework.test import APIClient

from orders.models import Order, SagaStep
from orders.services import LineInput, order_place
from project.messaging.models import DeadLetter
from project.messaging.testing import TestBus
from tests.factories.inventory import StockItemFactory
from tests.factories.orders import KnownProductFactory, StaffFactory

pytestmark = pytest.mark.django_db


def staff_with(username: str, *perms: str):
    user = StaffFactory(username=username)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


@pytest.fixture
def clerk():
    return staff_with("clara", "messaging.view_deadletter", "orders.view_order")


@pytest.fixture
def operator():
    return staff_with("otto", "messaging.change_deadletter", "orders.change_order")


def admin_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_of(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


# --- Dead letters ---------------------------------------------------------------------------------


@pytest.fixture
def letter(dead_letter: DeadLetter) -> DeadLetter:
    return dead_letter


def assert_untouched(letter: DeadLetter) -> None:
    letter.refresh_from_db()
    assert (letter.status, letter.replay_count, letter.discard_reason) == ("dead", 0, "")


def test_staff_without_the_change_permission_see_dead_letters_but_cannot_replay_or_discard_them(
    letter: DeadLetter, clerk
) -> None:
    admin = admin_of(clerk)
    listing = admin.get("/admin/messaging/deadletter/")
    assert listing.status_code == 200 and str(letter.handler) in listing.content.decode()
    assert 'value="replay"' not in listing.content.decode() and 'value="discard"' not in listing.content.decode()
    page = admin.get(f"/admin/messaging/deadletter/{letter.pk}/change/")
    assert page.status_code == 200
    assert "replay-dead-letter" not in page.content.decode() and "/discard/" not in page.content.decode()
    groups = admin.get("/admin/messaging/deadletter/groups/")
    assert groups.status_code == 200 and "/replay/" not in groups.content.decode()

    assert admin.post(f"/admin/messaging/deadletter/{letter.pk}/replay/").status_code == 403
    assert admin.post(f"/admin/messaging/deadletter/groups/{letter.fingerprint}/replay/").status_code == 403
    assert admin.get(f"/admin/messaging/deadletter/{letter.pk}/discard/").status_code == 403
    assert admin.post(f"/admin/messaging/deadletter/{letter.pk}/discard/", {"reason": "tidying"}).status_code == 403
    for action in ("replay", "discard"):
        form = {"action": action, "_selected_action": [str(letter.pk)], "apply": "1", "reason": "tidying"}
        admin.post("/admin/messaging/deadletter/", form)  # not one of the offered actions: nothing runs
    assert_untouched(letter)


def test_staff_without_a_messaging_permission_cannot_read_the_dead_letters(letter: DeadLetter) -> None:
    """A dead letter's payload and error may quote a customer's email address."""
    stan = StaffFactory(username="stan")
    admin = admin_of(stan)
    assert admin.get("/admin/messaging/deadletter/").status_code == 403
    assert admin.get("/admin/messaging/deadletter/groups/").status_code == 403
    assert admin.get(f"/admin/messaging/deadletter/{letter.pk}/change/").status_code == 403
    assert admin.post(f"/admin/messaging/deadletter/{letter.pk}/replay/").status_code == 403
    assert_untouched(letter)


def test_timelines_show_dead_letters_only_to_staff_who_may_read_them(letter: DeadLetter, clerk) -> None:
    stan = StaffFactory(username="stan")
    path = f"/api/messaging/correlations/{letter.correlation_id}/timeline/"
    kinds = {e["kind"] for e in api_of(stan).get(path).json()["entries"]}
    assert "dead_letter" not in kinds and "event" in kinds
    assert "dead_letter" in {e["kind"] for e in api_of(clerk).get(path).json()["entries"]}

    admin_path = f"/admin/messaging/outboxevent/correlations/{letter.correlation_id}/timeline/"
    assert "dead letter #" not in admin_of(stan).get(admin_path).content.decode()
    assert f"dead letter #{letter.pk}" in admin_of(clerk).get(admin_path).content.decode()


def test_staff_with_the_change_permission_replay_and_discard_dead_letters(letter: DeadLetter, operator) -> None:
    admin = admin_of(operator)
    listing = admin.get("/admin/messaging/deadletter/").content.decode()
    assert 'value="replay"' in listing and 'value="discard"' in listing
    assert "replay-dead-letter" in admin.get(f"/admin/messaging/deadletter/{letter.pk}/change/").content.decode()

    assert admin.post(f"/admin/messaging/deadletter/{letter.pk}/replay/").status_code == 302
    letter.refresh_from_db()
    assert letter.replay_count == 1
    admin.post(f"/admin/messaging/deadletter/{letter.pk}/discard/", {"reason": "the goose is gone"})
    letter.refresh_from_db()
    assert (letter.status, letter.discard_reason) == ("discarded", "the goose is gone")


# --- The saga's operator actions ------------------------------------------------------------------


@pytest.fixture
def stuck_order(bus: TestBus) -> Order:
    """A reserving order whose ReserveStock commands the broker lost: what an operator retries."""
    StockItemFactory(sku="CRUNCHY-ARMCHAIR", on_hand=10)
    KnownProductFactory(sku="CRUNCHY-ARMCHAIR")
    order = order_place(customer_id=77, lines=[LineInput("CRUNCHY-ARMCHAIR", 2, Decimal("99.00"))]).order
    bus.take_pending()
    return order


def operator_steps(order: Order) -> int:
    return SagaStep.objects.filter(order=order, action=SagaStep.Action.OPERATOR).count()


def test_staff_without_orders_change_order_cannot_run_a_saga_by_hand(stuck_order: Order, clerk) -> None:
    api = api_of(clerk)
    for action in ("retry-step", "compensate"):
        response = api.post(f"/api/orders/{stuck_order.pk}/{action}/", {"reason": "me"}, format="json")
        assert response.status_code == 403, response.content
    admin = admin_of(clerk)
    assert admin.get(f"/admin/orders/order/{stuck_order.pk}/change/").status_code == 200
    listing = admin.get("/admin/orders/order/").content.decode()
    for action in ("cancel_orders", "retry_saga_step", "compensate_now"):
        assert f'value="{action}"' not in listing
        admin.post(
            "/admin/orders/order/",
            {"action": action, "_selected_action": [str(stuck_order.pk)], "apply": "1", "reason": "me"},
        )
    for path in ("retry-step", "compensate"):
        assert admin.get(f"/admin/orders/order/{stuck_order.pk}/{path}/").status_code == 403
        applied = admin.post(f"/admin/orders/order/{stuck_order.pk}/{path}/", {"apply": "1", "reason": "me"})
        assert applied.status_code == 403
    stuck_order.refresh_from_db()
    assert stuck_order.status == "reserving" and operator_steps(stuck_order) == 0


def test_staff_with_orders_change_order_run_a_saga_by_hand(stuck_order: Order, operator) -> None:
    retried = api_of(operator).post(f"/api/orders/{stuck_order.pk}/retry-step/", {"reason": "lost"}, format="json")
    assert retried.status_code == 202, retried.content
    admin = admin_of(operator)
    assert 'value="compensate_now"' in admin.get("/admin/orders/order/").content.decode()
    assert admin.get(f"/admin/orders/order/{stuck_order.pk}/compensate/").status_code == 200
    done = admin.post(f"/admin/orders/order/{stuck_order.pk}/compensate/", {"apply": "1", "reason": "flooded"})
    assert done.status_code == 302
    assert operator_steps(stuck_order) == 2
