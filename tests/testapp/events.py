from __future__ import annotations

from pydantic import Field

from project.messaging.contract.events import Event, message_type, upcaster


@message_type("testapp.Pinged", version=2, aggregate="tally", aggregate_id="key")
class Pinged(Event):
    """Add ``amount`` to the tally ``key``. ``behaviour`` makes the handler misbehave on purpose:

    ok | transient:<n> (fail n times with a transient error, then succeed) | permanent |
    bug | slow:<seconds> (on the first attempt, sleep inside the handler transaction).
    """

    key: str
    amount: int = Field(ge=1)
    behaviour: str = "ok"


@upcaster("testapp.Pinged", from_version=1)
def _pinged_v1_to_v2(payload: dict) -> dict:
    # v1 called the amount "times".
    return {**{k: v for k, v in payload.items() if k != "times"}, "amount": payload["times"]}


@message_type("testapp.Ponged", version=1, aggregate="tally", aggregate_id="key")
class Ponged(Event):
    """Published by the Pinged handler: shows causation and correlation ids being carried."""

    key: str
