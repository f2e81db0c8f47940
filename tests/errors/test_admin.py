"""A DomainError raised in an admin action or custom admin view is an error message, never a 500."""

from __future__ import annotations

import pytest
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import URLPattern, path

from project.admin import DomainErrorAdmin
from project.errors import DomainError
from tests.testapp.models import Tally


class TallyAdmin(DomainErrorAdmin):
    actions = ["refuse", "count_each"]

    @admin.action(description="Always refused", permissions=["change"])
    def refuse(self, request: HttpRequest, queryset: QuerySet[Tally]) -> None:
        raise DomainError("The crunchy armchair tally is closed.")

    @admin.action(description="Count each, refusing odd counts", permissions=["change"])
    def count_each(self, request: HttpRequest, queryset: QuerySet[Tally]) -> None:
        counted = 0
        for tally in queryset.order_by("key"):
            with self.refusal_reported(request, prefix=f"{tally.key}: "):
                if tally.count % 2:
                    raise DomainError("an odd count cannot be counted.")
                Tally.objects.filter(pk=tally.pk).update(count=tally.count + 2)
                counted += 1
        self.message_user(request, f"Counted {counted}.", messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        return [path("refuse/", self.admin_view(self.refusing_view), name="testapp_tally_refuse"), *super().get_urls()]

    def refusing_view(self, request: HttpRequest) -> HttpResponse:
        raise DomainError("No refusing on a Sunday.")


site = admin.AdminSite(name="refusals")
site.register(Tally, TallyAdmin)
urlpatterns = [path("refusals-admin/", site.urls)]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]
CHANGELIST = "/refusals-admin/testapp/tally/"


@pytest.fixture
def operator() -> Client:
    client = Client()
    user = get_user_model().objects.create_user(username="root", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def shown(response) -> list[tuple[int, str]]:
    return [(m.level, m.message) for m in response.context["messages"]]


def run_action(client: Client, action: str, *tallies: Tally):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [str(t.pk) for t in tallies]}, follow=True)


def test_an_action_that_raises_a_domain_error_shows_its_message_as_an_error(operator: Client) -> None:
    tally = Tally.objects.create(key="CRUNCHY-ARMCHAIR")
    response = run_action(operator, "refuse", tally)
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == CHANGELIST
    assert shown(response) == [(messages.ERROR, "The crunchy armchair tally is closed.")]


def test_a_batch_action_reports_each_refused_object_and_carries_out_the_others(operator: Client) -> None:
    even, odd = Tally.objects.create(key="A-EVEN", count=2), Tally.objects.create(key="B-ODD", count=1)
    response = run_action(operator, "count_each", even, odd)
    assert shown(response) == [
        (messages.ERROR, "B-ODD: an odd count cannot be counted."),
        (messages.SUCCESS, "Counted 1."),
    ]
    assert dict(Tally.objects.values_list("key", "count")) == {"A-EVEN": 4, "B-ODD": 1}


def test_the_wrapped_action_keeps_what_django_reads_from_it() -> None:
    func, name, description = TallyAdmin(Tally, site).get_action("refuse")
    assert (name, description) == ("refuse", "Always refused")
    assert list(func.allowed_permissions) == ["change"]


def test_a_custom_view_that_raises_a_domain_error_redirects_to_the_change_list_with_the_message(
    operator: Client,
) -> None:
    response = operator.get("/refusals-admin/testapp/tally/refuse/", follow=True)
    assert response.redirect_chain == [(CHANGELIST, 302)]
    assert shown(response) == [(messages.ERROR, "No refusing on a Sunday.")]
