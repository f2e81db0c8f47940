from __future__ import annotations

import pytest
from django.test import Client

from tests.factories.notifications import NotificationFactory, RecipientFactory
from tests.factories.users import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(UserFactory(username="ada", is_staff=True, is_superuser=True))
    return client


def test_staff_browse_the_notification_log_filtered_by_kind_and_status(admin_client_: Client) -> None:
    NotificationFactory(kind="order_failed", status="suppressed", subject="We could not complete your order BEEF")
    NotificationFactory(kind="new_article", sent=True, subject="New article: Crunchy")
    page = admin_client_.get("/admin/notifications/notification/", {"kind": "new_article", "status": "sent"})
    assert page.status_code == 200
    assert b"New article: Crunchy" in page.content and b"order BEEF" not in page.content


def test_the_notification_admin_is_read_only(admin_client_: Client) -> None:
    notification = NotificationFactory()
    RecipientFactory()
    assert admin_client_.get("/admin/notifications/notification/add/").status_code == 403
    page = admin_client_.get(f"/admin/notifications/notification/{notification.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert admin_client_.get("/admin/notifications/recipient/").status_code == 200
