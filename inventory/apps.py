from __future__ import annotations

from project.messaging import DomainAppConfig


class InventoryConfig(DomainAppConfig):
    name = "inventory"
