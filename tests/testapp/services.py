from __future__ import annotations

from django.db import transaction
from django.db.models import F

from project.messaging.outbox.publish import publish
from tests.testapp.events import Pinged, Ponged
from tests.testapp.models import Tally


@transaction.atomic(durable=True)
def tally_ping(*, key: str, amount: int = 1, behaviour: str = "ok", fail_after_publish: bool = False) -> None:
    """Producer-side service: a state change and its event in one transaction."""
    Tally.objects.get_or_create(key=f"source-{key}")
    Tally.objects.filter(key=f"source-{key}").update(count=F("count") + amount)
    publish(Pinged(key=key, amount=amount, behaviour=behaviour))
    if fail_after_publish:
        raise RuntimeError("the service failed after publishing")


@transaction.atomic
def tally_add(*, key: str, amount: int) -> None:
    tally, _ = Tally.objects.get_or_create(key=key)
    Tally.objects.filter(pk=tally.pk).update(count=F("count") + amount)
    publish(Ponged(key=key))
