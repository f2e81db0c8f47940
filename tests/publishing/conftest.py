from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import transaction

from project.messaging.contract.events import Event
from project.messaging.outbox.publish import publish


@pytest.fixture
def announce(db: None) -> Callable[..., None]:
    """Put articles events in the outbox as the articles domain would, one transaction each."""

    def announce(*events: Event) -> None:
        for event in events:
            with transaction.atomic():
                publish(event, aggregate_version=event.revision)

    return announce
