"""Periodic work of the orders domain (scheduled by Celery beat, routed to the orders queue)."""

from __future__ import annotations

from celery import shared_task

from orders import services


@shared_task(name="orders.expire_overdue_sagas", ignore_result=True)
def expire_overdue_sagas() -> int:
    return services.order_sagas_expire_overdue()
