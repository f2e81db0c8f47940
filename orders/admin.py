"""Orders admin: read-only views of orders, lines and the saga history. Actions call services.

The order page links to the order's timeline (its events, deliveries, dead letters and saga
steps in time order) and to the operator's saga actions, "retry the current step" and
"compensate now", which ask for a reason on a confirmation page and call the services.
Cancelling and the saga actions change orders: they need ``orders.change_order`` (staff who
may only view orders see no actions, and the pages of the saga actions answer 403).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.timesince import timesince, timeuntil

from orders import selectors, services
from orders.models import Order, OrderLine, OrderSaga, SagaStep
from project.admin import DomainErrorAdmin
from project.messaging import render_timeline


class OperatorReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        max_length=500,
        help_text="Recorded in the saga's history (and, for compensation, as the order's failure reason).",
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why.")
        return reason


SAGA_ACTIONS: dict[str, tuple[str, str]] = {
    # name: (title, what it does)
    "retry_step": (
        "Retry the saga's current step",
        "Sends again, as new commands, what the saga awaits from inventory (ReserveStock for lines still "
        "requested, ReleaseStock for lines releasing, CommitStock for lines committing). Inventory answers "
        "repeats as it answered the first: safe even if the first command was only slow.",
    ),
    "compensate": (
        "Compensate now",
        "Gives up on a reserving order: its lines are released (newest first), then it fails with your reason.",
    ),
}


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = ("position", "sku", "quantity", "unit_price", "stock")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SagaStepInline(admin.TabularInline):
    model = SagaStep
    extra = 0
    can_delete = False
    fields = ("sent_at", "action", "line", "command_type", "attempts", "reply_type", "replied_at", "outcome", "note")
    readonly_fields = fields
    verbose_name_plural = "saga step history"

    def get_queryset(self, request: HttpRequest) -> QuerySet[SagaStep]:
        return super().get_queryset(request).select_related("line")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(DomainErrorAdmin):
    list_display = ("id", "customer_id", "status", "saga_state", "total", "failure_reason", "created_at")
    list_filter = ("status", "saga__state", "created_at")
    search_fields = ("=id", "=customer_id")
    date_hierarchy = "created_at"
    list_select_related = ("saga",)
    fields = (
        "id",
        "customer_id",
        "status",
        "failure_reason",
        "total",
        "version",
        "saga_state",
        "saga_deadline",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    read_only_record = True  # changes go through the actions, never through the form
    inlines = [OrderLineInline, SagaStepInline]
    actions = ["cancel_orders", "retry_saga_step", "compensate_now"]
    change_form_template = "admin/orders/order/change_form.html"

    @admin.display(description="saga")
    def saga_state(self, order: Order) -> str:
        return order.saga.state if hasattr(order, "saga") else "-"

    @admin.display(description="saga deadline")
    def saga_deadline(self, order: Order) -> str:
        if not hasattr(order, "saga"):
            return "-"
        saga = order.saga
        when = date_format(timezone.localtime(saga.deadline_at), "j M Y, H:i:s T")
        if saga.ended_at:
            return f"{when} (the saga ended before it)"
        if saga.deadline_passed:
            return f"{when} (passed {timesince(saga.deadline_at)} ago)"
        return f"{when} (in {timeuntil(saga.deadline_at)})"

    @admin.action(description="Cancel selected orders (releases their stock)", permissions=["change"])
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        cancelled = 0
        for order in queryset:
            with self.refusal_reported(request):
                services.order_cancel(order_id=order.pk, reason=f"cancelled by staff ({request.user})")
                cancelled += 1
        self.message_user(request, f"Cancellation started for {cancelled} order(s).", messages.SUCCESS)

    @admin.action(description="Retry the saga's current step (asks for a reason)", permissions=["change"])
    def retry_saga_step(self, request: HttpRequest, queryset: QuerySet[Order]) -> HttpResponse | None:
        return self._saga_action(request, list(queryset), "retry_step")

    @admin.action(description="Compensate now: release and fail (asks for a reason)", permissions=["change"])
    def compensate_now(self, request: HttpRequest, queryset: QuerySet[Order]) -> HttpResponse | None:
        return self._saga_action(request, list(queryset), "compensate")

    # --- Views: timeline, and the saga actions on one order --------------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_view
        return [
            path("<uuid:order_id>/timeline/", view(self.timeline_view), name="orders_order_timeline"),
            path("<uuid:order_id>/retry-step/", view(self._one_order("retry_step")), name="orders_order_retry_step"),
            path("<uuid:order_id>/compensate/", view(self._one_order("compensate")), name="orders_order_compensate"),
            *super().get_urls(),
        ]

    def timeline_view(self, request: HttpRequest, order_id: UUID) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            the_saga = selectors.saga_detail(order_id)
        except OrderSaga.DoesNotExist as exc:
            raise Http404(f"No order {order_id}.") from exc
        return render_timeline(
            request,
            admin_site=self.admin_site,
            title=f"Timeline of order {order_id}",
            entries=selectors.order_timeline(order_id),
            template="admin/orders/order/timeline.html",
            extra={
                "opts": self.model._meta,
                "original": the_saga.order,
                "saga": the_saga,
                "correlation_id": selectors.order_correlation_id(order_id),
                "can_act": self.has_change_permission(request, the_saga.order),
            },
        )

    def _one_order(self, name: str) -> Callable[..., HttpResponse]:
        def view(request: HttpRequest, order_id: UUID) -> HttpResponse:
            if not self.has_change_permission(request):
                raise PermissionDenied
            order = get_object_or_404(Order, pk=order_id)
            response = self._saga_action(request, [order], name, single=True)
            return response or HttpResponseRedirect(reverse("admin:orders_order_timeline", args=[order_id]))

        return view

    def _saga_action(
        self, request: HttpRequest, orders: list[Order], name: str, *, single: bool = False
    ) -> HttpResponse | None:
        if not self.has_change_permission(request):
            raise PermissionDenied
        submitted = request.method == "POST" and "apply" in request.POST
        form = OperatorReasonForm(request.POST if submitted else None)
        if form.is_bound and form.is_valid():
            self._apply_saga_action(request, orders, name, form.cleaned_data["reason"])
            return None
        title, explanation = SAGA_ACTIONS[name]
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "explanation": explanation,
            "orders": orders,
            "form": form,
            "action_name": None if single else ("retry_saga_step" if name == "retry_step" else "compensate_now"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/orders/order/saga_action.html", context)

    def _apply_saga_action(self, request: HttpRequest, orders: list[Order], name: str, reason: str) -> None:
        done = []
        for order in orders:
            with self.refusal_reported(request):
                if name == "retry_step":
                    steps = services.order_saga_retry_step(order_id=order.pk, reason=reason, actor=str(request.user))
                    done.append(f"{order.pk}: {len(steps)} command(s) re-sent")
                else:
                    services.order_saga_compensate(order_id=order.pk, reason=reason, actor=str(request.user))
                    done.append(f"{order.pk}: compensation started")
        if done:
            self.message_user(request, "; ".join(done), messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
