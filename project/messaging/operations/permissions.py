"""Who may read the messaging layer's dead letters (Django's model permissions, no roles of our own).

A dead letter keeps the event's payload and the handler's error, and either may quote a
customer's email address: reading them needs ``messaging.view_deadletter`` (or
``messaging.change_deadletter``, which implies it, as everywhere in Django's admin). Replaying and
discarding them needs ``messaging.change_deadletter`` (project/messaging/operations/admin.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from project.messaging.operations.selectors import TimelineEntry

VIEW_DEAD_LETTERS = "messaging.view_deadletter"
CHANGE_DEAD_LETTERS = "messaging.change_deadletter"


def may_read_dead_letters(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Staff with messaging.view_deadletter or messaging.change_deadletter."""
    return bool(
        user.is_active and user.is_staff and (user.has_perm(VIEW_DEAD_LETTERS) or user.has_perm(CHANGE_DEAD_LETTERS))
    )


def timeline_for(user: AbstractBaseUser | AnonymousUser, entries: Sequence[TimelineEntry]) -> list[TimelineEntry]:
    """A timeline as ``user`` may read it: without its dead letters unless they may read those."""
    if may_read_dead_letters(user):
        return list(entries)
    return [entry for entry in entries if entry.kind != "dead_letter"]
