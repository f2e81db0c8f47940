from __future__ import annotations

from django import template

from project.messaging.operations.admin import breakable_at_dots, breakable_name
from project.messaging.operations.health import messaging_state

register = template.Library()
register.filter("breakable_at_dots", breakable_at_dots)
register.filter("breakable_name", breakable_name)


@register.inclusion_tag("admin/messaging/health_panel.html")
def messaging_health_panel() -> dict:
    return {"state": messaging_state()}
