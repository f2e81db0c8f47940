from __future__ import annotations

from project.messaging import DomainAppConfig


class OrdersConfig(DomainAppConfig):
    name = "orders"
