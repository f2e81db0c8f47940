"""Dead letters in the admin: grouped by cause, replayed one by one or by group, discarded with a reason."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from project.messaging.models import DeadLetter
from project.messaging.operations import services
from project.messaging.operations.selectors import dead_letter_groups
from project.messaging.outbox.publish import publish
from project.messaging.testing import TestBus
from tests.testapp.events import Pinged
from tests.testapp.models import Tally

pytestmark = pytest.mark.django_db


def ping(bus: TestBus, key: str, behaviour: str) -> None:
    with transaction.atomic():
        publish(Pinged(key=key, amount=1, behaviour=behaviour))
    bus.drain()


@pytest.fixture
def letters(bus: TestBus) -> dict[str, list[DeadLetter]]:
    """Two refused pings (one cause) and one that ran out of retries (another cause)."""
    ping(bus, "grumpy-goose-1", "permanent")
    ping(bus, "grumpy-goose-2", "permanent")
    ping(bus, "flaky-ferret", "transient:3")  # fails its 3 attempts, would pass on the 4th
    by_cause: dict[str, list[DeadLetter]] = {}
    for letter in DeadLetter.objects.order_by("id"):
        by_cause.setdefault(letter.error_type.rsplit(".", 1)[-1], []).append(letter)
    assert {cause: len(group) for cause, group in by_cause.items()} == {"PermanentError": 2, "RetryableError": 1}
    return by_cause


def test_groups_count_letters_by_fingerprint_with_first_and_last_seen(letters) -> None:
    groups = {g.error_type.rsplit(".", 1)[-1]: g for g in dead_letter_groups()}
    refused = groups["PermanentError"]
    assert (refused.count, refused.open_count, refused.handlers) == (2, 2, ("testapp.add_to_tally",))
    assert refused.first_seen <= refused.last_seen
    assert refused.fingerprint == letters["PermanentError"][0].fingerprint


def test_the_grouped_admin_page_lists_each_cause_with_a_replay_button(letters, admin_client: Client) -> None:
    assert "/admin/messaging/deadletter/groups/" in admin_client.get("/admin/messaging/deadletter/").content.decode()
    page = admin_client.get("/admin/messaging/deadletter/groups/")
    assert page.status_code == 200
    text = page.content.decode()
    fingerprint = letters["PermanentError"][0].fingerprint
    assert fingerprint in text and "project.messaging.contract.errors.PermanentError" in text
    assert f"/admin/messaging/deadletter/groups/{fingerprint}/replay/" in text
    assert "Replay 2" in text
    filtered = admin_client.get(f"/admin/messaging/deadletter/?fingerprint={fingerprint}")
    assert filtered.status_code == 200 and filtered.context["cl"].result_count == 2


def test_replaying_a_group_counts_each_replay_and_shows_its_status(letters, admin_client: Client) -> None:
    fingerprint = letters["PermanentError"][0].fingerprint
    response = admin_client.post(f"/admin/messaging/deadletter/groups/{fingerprint}/replay/", follow=True)
    assert response.status_code == 200
    replayed = DeadLetter.objects.filter(fingerprint=fingerprint)
    assert {(d.status, d.replay_count) for d in replayed} == {("replaying", 1)}
    assert "Replay sent for 2 dead letter(s)" in response.content.decode()
    assert "replaying (replay 1)" in response.content.decode()
    assert DeadLetter.objects.get(pk=letters["RetryableError"][0].pk).replay_count == 0  # other cause untouched


def test_a_group_replayed_inline_after_the_cause_passed_resolves_and_applies_once(letters) -> None:
    flaky = letters["RetryableError"][0]
    [done] = services.dead_letter_replay_group(fingerprint=flaky.fingerprint, inline=True)
    assert (done.status, done.replay_count) == ("resolved", 1)
    assert Tally.objects.get(key="flaky-ferret").count == 1
    with pytest.raises(services.DeadLetterStateError):
        services.dead_letter_replay_group(fingerprint=flaky.fingerprint)


def test_replaying_one_letter_from_its_page(letters, admin_client: Client) -> None:
    letter = letters["RetryableError"][0]
    page = admin_client.get(f"/admin/messaging/deadletter/{letter.pk}/change/")
    assert page.status_code == 200 and "Replay this dead letter" in page.content.decode()
    assert admin_client.get(f"/admin/messaging/deadletter/{letter.pk}/replay/").status_code == 405  # POST only
    response = admin_client.post(f"/admin/messaging/deadletter/{letter.pk}/replay/", follow=True)
    assert response.status_code == 200
    letter.refresh_from_db()
    assert (letter.status, letter.replay_count) == ("replaying", 1)


def test_discarding_asks_for_a_reason_on_a_confirmation_page_and_keeps_the_rows(letters, admin_client: Client) -> None:
    ids = [str(d.pk) for d in letters["PermanentError"]]
    form = {"action": "discard", "_selected_action": ids}
    confirm = admin_client.post("/admin/messaging/deadletter/", form)
    assert confirm.status_code == 200
    assert "Reason" in confirm.content.decode() and "Discard 2 dead letters" in confirm.content.decode()
    blank = admin_client.post("/admin/messaging/deadletter/", {**form, "apply": "1", "reason": "   "})
    assert blank.status_code == 200 and "This field is required" in blank.content.decode()
    assert set(DeadLetter.objects.values_list("status", flat=True)) == {"dead"}
    done = admin_client.post(
        "/admin/messaging/deadletter/",
        {**form, "apply": "1", "reason": "the geese were test data, nobody needs their tally"},
        follow=True,
    )
    assert done.status_code == 200
    discarded = DeadLetter.objects.filter(pk__in=ids)
    assert discarded.count() == 2  # never deleted
    assert {(d.status, d.discard_reason) for d in discarded} == {
        ("discarded", "the geese were test data, nobody needs their tally")
    }


def test_discarding_one_letter_from_its_own_confirmation_page(letters, admin_client: Client) -> None:
    letter = letters["RetryableError"][0]
    url = f"/admin/messaging/deadletter/{letter.pk}/discard/"
    assert admin_client.get(url).status_code == 200
    admin_client.post(url, {"reason": "the ferret moved to another tally"})
    letter.refresh_from_db()
    assert (letter.status, letter.discard_reason) == ("discarded", "the ferret moved to another tally")
