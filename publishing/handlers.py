"""Handlers of the publishing domain: thin adapters that call one of its services."""

from __future__ import annotations

from collections.abc import Callable

SUBSCRIPTIONS: dict[type, list[Callable]] = {}
