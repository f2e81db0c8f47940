from __future__ import annotations

from project.messaging import DomainAppConfig


class PublishingConfig(DomainAppConfig):
    name = "publishing"
