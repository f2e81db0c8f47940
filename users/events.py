"""Events published by the users domain: its public contract. Consumers may import this module only.

Every event carries the user's ``version``: a per-user counter that grows with each change, so a
consumer keeping a copy applies an event only when it is newer than what it holds.

The counter is shared by all of a user's events, and each event after UserRegistered carries
only the part that changed. A copy therefore compares versions per part it keeps (email, display
name, preferences): UserEmailPreferencesChanged v2 arriving after UserEmailChanged v3 is still
newer than the preferences it holds, and must not be dropped.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from project.messaging import Event, message_type


class EmailPreferences(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_updates: bool = True
    new_articles: bool = False
    email_format: Literal["html", "text"] = "html"


@message_type("users.UserRegistered", version=1, aggregate="user", aggregate_id="user_id")
class UserRegistered(Event):
    user_id: int
    email: str
    display_name: str
    preferences: EmailPreferences
    version: int


@message_type("users.UserEmailPreferencesChanged", version=1, aggregate="user", aggregate_id="user_id")
class UserEmailPreferencesChanged(Event):
    """Carries the full new preferences, not a diff: applying the newest one is enough."""

    user_id: int
    preferences: EmailPreferences
    version: int


@message_type("users.UserEmailChanged", version=1, aggregate="user", aggregate_id="user_id")
class UserEmailChanged(Event):
    user_id: int
    email: str
    version: int


@message_type("users.UserDisplayNameChanged", version=1, aggregate="user", aggregate_id="user_id")
class UserDisplayNameChanged(Event):
    """The name the user wants to be greeted with changed."""

    user_id: int
    display_name: str
    version: int
