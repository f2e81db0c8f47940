from __future__ import annotations

from project.messaging import DomainAppConfig


class TestappConfig(DomainAppConfig):
    """A consumer app that exists only in tests, with handlers that misbehave on request."""

    name = "tests.testapp"
    label = "testapp"
