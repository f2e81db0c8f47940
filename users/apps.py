from __future__ import annotations

from project.messaging import DomainAppConfig


class UsersConfig(DomainAppConfig):
    name = "users"
