"""Admin views of the messaging tables. Actions call services; nothing edits rows by hand.

Beyond the tables: the timeline of a correlation id (linked from outbox events and dead
letters), dead letters grouped by fingerprint (replay a whole group), and replay or discard of
one letter (discarding asks for a reason on a confirmation page; the row is kept).

Reading the dead letters (their payloads and errors may quote a customer's email address) needs
``messaging.view_deadletter``: without it the list, the pages and the groups answer 403 and the
timelines leave the dead letters out (project/messaging/operations/permissions.py). Replaying and discarding
them is an operator's power, given by ``messaging.change_deadletter`` (which implies reading; the
actions are not offered without it, and the replay and discard views answer 403).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from project.admin import DomainErrorAdmin
from project.messaging.models import DeadLetter, Delivery, InboxRecord, OutboxEvent
from project.messaging.operations import selectors, services
from project.messaging.operations.permissions import timeline_for
from project.messaging.operations.selectors import TimelineEntry
from project.messaging.registry.databases import messaging_databases


class DatabaseFilter(admin.SimpleListFilter):
    """Which database's rows the list shows (``?db=<alias>``), when domains have databases of
    their own: each list reads one database through its own connection, the default unless told."""

    title = "database"
    parameter_name = "db"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(alias, alias) for alias in messaging_databases()]

    def has_output(self) -> bool:
        return len(messaging_databases()) > 1  # nothing to choose with one database

    def choices(self, changelist: Any) -> Any:
        # No "All": rows of several databases cannot be listed (and paginated) as one queryset.
        for lookup, title in self.lookup_choices:
            yield {
                "selected": (self.value() or DEFAULT_DB_ALIAS) == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        alias = self.value()
        return queryset.using(alias) if alias in messaging_databases() else queryset


class ReadOnlyAdmin(DomainErrorAdmin):
    read_only_record = True  # a record of what happened: nothing on its page is edited

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        """The row of that id in the database the list showed (``db`` among the changelist's
        filters), else the first database that has one."""
        wanted = QueryDict(request.GET.get("_changelist_filters", "")).get("db") or request.GET.get("db")
        aliases = messaging_databases()
        for alias in ([wanted] if wanted in aliases else []) + aliases:
            queryset = self.get_queryset(request).using(alias)
            model = queryset.model
            field = model._meta.pk if from_field is None else model._meta.get_field(from_field)
            try:
                return queryset.get(**{field.name: field.to_python(object_id)})
            except (model.DoesNotExist, ValidationError, ValueError):
                continue
        return None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def breakable_at_dots(name: str) -> SafeString:
    """Let a dotted name (``inventory.reserve_order_line``) wrap after its dots, not mid-word."""
    return mark_safe(escape(name).replace(".", ".<wbr>"))  # noqa: S308 (escaped just before)


def breakable_name(name: str) -> SafeString:
    """A handler's or a message's name for a narrow column: it may also wrap after an underscore."""
    return mark_safe(breakable_at_dots(name).replace("_", "_<wbr>"))  # noqa: S308 (escaped)


def breakable_class_name(name: str) -> SafeString:
    """An exception's class name for a narrow column: it may wrap between its words
    (``Programming<wbr>Error``), as the longest ones (PostgreSQL's) would widen the list."""
    return mark_safe(re.sub(r"(?<=[a-z])(?=[A-Z])", "<wbr>", escape(name)))  # noqa: S308 (escaped)


def pretty_json(value: object, css_class: str) -> str:
    """A JSON document indented, in a monospace block that wraps long lines."""
    return format_html('<pre class="{}">{}</pre>', css_class, json.dumps(value, indent=2, ensure_ascii=False))


def correlation_timeline_url(correlation_id: uuid.UUID | str) -> str:
    return reverse("admin:messaging_correlation_timeline", args=[str(correlation_id)])


def render_timeline(
    request: HttpRequest,
    *,
    admin_site: admin.AdminSite,
    title: str,
    entries: Sequence[TimelineEntry],
    extra: dict[str, Any] | None = None,
    template: str = "admin/messaging/timeline.html",
) -> TemplateResponse:
    """Render timeline rows in the admin (domain apps' admins use it for their own timelines)."""
    entries = timeline_for(request.user, entries)  # dead letters only to who may read them
    trace_url = settings.TRACING_TRACE_URL  # e.g. Jaeger's "http://127.0.0.1:16686/trace/{trace_id}"
    start = entries[0].at if entries else None
    rows = [
        {
            "entry": entry,
            "offset_ms": round((entry.at - start).total_seconds() * 1000) if start else 0,
            "dead_letter_url": (
                reverse("admin:messaging_deadletter_change", args=[entry.ref]) if entry.kind == "dead_letter" else ""
            ),
            "event_url": (
                reverse("admin:messaging_outboxevent_change", args=[str(entry.event_id)])
                if entry.kind == "event"
                else ""
            ),
            "trace_url": trace_url.format(trace_id=entry.trace_id) if trace_url and entry.trace_id else "",
        }
        for entry in entries
    ]
    counts: dict[str, int] = {}
    for entry in entries:
        if entry.trace_id:
            counts[entry.trace_id] = counts.get(entry.trace_id, 0) + 1
    traces = [
        {"trace_id": trace_id, "entries": n, "url": trace_url.format(trace_id=trace_id) if trace_url else ""}
        for trace_id, n in counts.items()
    ]
    context = {
        **admin_site.each_context(request),
        "title": title,
        "rows": rows,
        "traces": traces,  # the traces the entries were published in, in order of appearance
        "open_dead_letters": [r for r in rows if r["entry"].kind == "dead_letter" and r["entry"].status == "dead"],
        **(extra or {}),
    }
    return TemplateResponse(request, template, context)


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ("handler", "queue", "status", "send_count", "last_sent_at", "processed_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("event_type", "aggregate_type", "aggregate_id", "occurred_at", "correlation_id", "timeline")
    list_filter = (DatabaseFilter, "event_type", "producer")
    search_fields = ("=event_id", "=correlation_id", "aggregate_id")
    date_hierarchy = "occurred_at"
    inlines = [DeliveryInline]
    exclude = ("payload",)
    readonly_fields = ("payload_json",)
    change_form_template = "admin/messaging/record_change_form.html"

    def get_formset_kwargs(self, request: HttpRequest, obj: Any, inline: Any, prefix: str) -> dict[str, Any]:
        # An event's deliveries are in the event's database (its producer's), not the default.
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if obj is not None and obj._state.db:
            kwargs["queryset"] = kwargs["queryset"].using(obj._state.db)
        return kwargs

    @admin.display(description="payload")
    def payload_json(self, event: OutboxEvent) -> str:
        return pretty_json(event.payload, "payload")

    @admin.display(description="timeline")
    def timeline(self, event: OutboxEvent) -> str:
        return format_html('<a href="{}">timeline</a>', correlation_timeline_url(event.correlation_id))

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "correlations/<uuid:correlation_id>/timeline/",
                self.admin_site.admin_view(self.correlation_timeline_view),
                name="messaging_correlation_timeline",
            ),
            *super().get_urls(),
        ]

    def correlation_timeline_view(self, request: HttpRequest, correlation_id: uuid.UUID) -> HttpResponse:
        return render_timeline(
            request,
            admin_site=self.admin_site,
            title=f"Timeline of correlation {correlation_id}",
            entries=selectors.correlation_timeline(correlation_id),
            extra={"correlation_id": correlation_id, "opts": self.model._meta},
        )


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("event", "handler", "status", "send_count", "last_sent_at", "processed_at")
    list_filter = (DatabaseFilter, "status", "queue", "handler")
    search_fields = ("=event__event_id",)
    list_select_related = ("event",)


@admin.register(InboxRecord)
class InboxRecordAdmin(ReadOnlyAdmin):
    list_display = ("handler", "event_type", "event_id", "processed_at")
    list_filter = (DatabaseFilter, "handler")
    search_fields = ("=event_id",)


class DiscardForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        max_length=2000,
        help_text="Recorded with the dead letter, which is kept (discarded, never deleted).",
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why these dead letters are given up.")
        return reason


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    # Few, narrow columns: with Django's navigation and the filters beside it, the list has about
    # 630 px at a 1280 px window; names wrap after their dots, ids are cut (in full on hover).
    list_display = ("id", "delivery", "error", "status", "tries", "cause", "last_failed")
    list_filter = (DatabaseFilter, "status", "handler", "event_type", "permanent")
    search_fields = ("=event_id", "=correlation_id", "=fingerprint", "error_message")
    actions = ["replay", "discard"]
    change_list_template = "admin/messaging/deadletter/change_list.html"
    change_form_template = "admin/messaging/deadletter/change_form.html"
    # The change page: the long texts in monospace blocks (the traceback as printed, the envelope
    # indented), instead of Django's proportional paragraphs.
    fieldsets = (
        (None, {"fields": ("handler", "queue", "event_type", "event_id", "correlation_id", "delivery_id")}),
        ("State", {"fields": ("status", "permanent", "attempts", "replay_count", "fingerprint", "discard_reason")}),
        ("When", {"fields": ("first_failed_at", "last_failed_at", "last_replayed_at", "resolved_at")}),
        ("Failure", {"fields": ("error_type", "error_message_text", "traceback_text")}),
        ("Envelope", {"fields": ("envelope_json",)}),
    )

    @admin.display(description="handler, message type", ordering="handler")
    def delivery(self, letter: DeadLetter) -> str:
        timeline = (
            format_html(' · <a href="{}">timeline</a>', correlation_timeline_url(letter.correlation_id))
            if letter.correlation_id
            else ""
        )
        return format_html(
            '{}<br><span class="quiet">{}</span>{}',
            breakable_name(letter.handler),
            breakable_name(letter.event_type),
            timeline,
        )

    @admin.display(description="error", ordering="error_type")
    def error(self, letter: DeadLetter) -> str:
        return format_html(
            '<span title="{}">{}</span>', letter.error_type, breakable_class_name(letter.error_type.rsplit(".", 1)[-1])
        )

    @admin.display(description="tries", ordering="attempts")
    def tries(self, letter: DeadLetter) -> str:
        return format_html(
            '<span title="{} attempts, {} replays">{} / {}</span>',
            letter.attempts,
            letter.replay_count,
            letter.attempts,
            letter.replay_count,
        )

    @admin.display(description="cause", ordering="fingerprint")
    def cause(self, letter: DeadLetter) -> str:
        url = reverse("admin:messaging_deadletter_changelist") + f"?fingerprint={letter.fingerprint}"
        return format_html(
            '<a href="{}" title="all letters of fingerprint {}"><code>{}</code></a>',
            url,
            letter.fingerprint,
            letter.fingerprint[:8],
        )

    @admin.display(description="last failed (UTC)", ordering="last_failed_at")
    def last_failed(self, letter: DeadLetter) -> str:
        return format_html(
            '<span title="first failed {}">{}<br>{}</span>',
            f"{letter.first_failed_at:%Y-%m-%d %H:%M:%S}",
            f"{letter.last_failed_at:%Y-%m-%d}",
            f"{letter.last_failed_at:%H:%M:%S}",
        )

    @admin.display(description="error message")
    def error_message_text(self, letter: DeadLetter) -> str:
        return format_html('<pre class="error-message">{}</pre>', letter.error_message)

    @admin.display(description="traceback")
    def traceback_text(self, letter: DeadLetter) -> str:
        return format_html('<pre class="traceback">{}</pre>', letter.traceback or "-")

    @admin.display(description="envelope")
    def envelope_json(self, letter: DeadLetter) -> str:
        return pretty_json(letter.envelope, "envelope")

    # --- Actions on the change list -------------------------------------------------------------

    @admin.action(description="Replay selected dead letters", permissions=["change"])
    def replay(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        self._replay(request, [letter.pk for letter in queryset], queryset.db)

    @admin.action(description="Discard selected dead letters (asks for a reason)", permissions=["change"])
    def discard(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> HttpResponse | None:
        letters = list(queryset)
        form = DiscardForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._discard(request, [letter.pk for letter in letters], form.cleaned_data["reason"], queryset.db)
            return None
        return self._discard_page(request, letters, form, action_field=True)

    # --- Views: groups, replay one, replay a group, discard one ----------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_view
        return [
            path("groups/", view(self.groups_view), name="messaging_deadletter_groups"),
            path(
                "groups/<str:fingerprint>/replay/",
                view(require_POST(self.replay_group_view)),
                name="messaging_deadletter_replay_group",
            ),
            path("<int:pk>/replay/", view(require_POST(self.replay_one_view)), name="messaging_deadletter_replay"),
            path("<int:pk>/discard/", view(self.discard_one_view), name="messaging_deadletter_discard"),
            *super().get_urls(),
        ]

    def groups_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        show_all = request.GET.get("all") == "1"
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Dead letters by cause: handler, message type and error",
            "groups": selectors.dead_letter_groups(open_only=not show_all),
            "show_all": show_all,
            "can_act": self.has_change_permission(request),
        }
        return TemplateResponse(request, "admin/messaging/deadletter/groups.html", context)

    def replay_group_view(self, request: HttpRequest, fingerprint: str) -> HttpResponse:
        self._require_change(request)
        with self.refusal_reported(request):
            self._report_replays(request, services.dead_letter_replay_group(fingerprint=fingerprint))
        return HttpResponseRedirect(reverse("admin:messaging_deadletter_groups"))

    def replay_one_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._require_change(request)
        letter = self.get_object(request, str(pk))
        if letter is None:
            raise Http404(f"No dead letter #{pk}.")
        self._replay(request, [pk], letter._state.db)
        return HttpResponseRedirect(self._change_url(letter))

    def discard_one_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._require_change(request)
        letter = self.get_object(request, str(pk))
        if letter is None:
            raise Http404(f"No dead letter #{pk}.")
        form = DiscardForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            self._discard(request, [letter.pk], form.cleaned_data["reason"], letter._state.db)
            return HttpResponseRedirect(self._change_url(letter))
        return self._discard_page(request, [letter], form, action_field=False)

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        # The buttons of a letter's page name its database: ids are per database.
        obj = kwargs.get("obj")
        context["database"] = obj._state.db if obj is not None else DEFAULT_DB_ALIAS
        return super().render_change_form(request, context, *args, **kwargs)

    # --- Helpers ------------------------------------------------------------------------------

    def _require_change(self, request: HttpRequest) -> None:
        if not self.has_change_permission(request):
            raise PermissionDenied

    @staticmethod
    def _change_url(letter: DeadLetter) -> str:
        return f"{reverse('admin:messaging_deadletter_change', args=[letter.pk])}?db={letter._state.db}"

    def _replay(self, request: HttpRequest, ids: list[int], database: str) -> None:
        replayed = []
        for pk in ids:
            with self.refusal_reported(request, prefix=f"#{pk}: ", also=(DeadLetter.DoesNotExist,)):
                replayed.append(services.dead_letter_replay(dead_letter_id=pk, database=database))
        self._report_replays(request, replayed)

    def _report_replays(self, request: HttpRequest, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        outcome = ", ".join(f"#{d.pk} {d.status} (replay {d.replay_count})" for d in letters)
        self.message_user(request, f"Replay sent for {len(letters)} dead letter(s): {outcome}.", messages.SUCCESS)

    def _discard(self, request: HttpRequest, ids: list[int], reason: str, database: str) -> None:
        done = []
        for pk in ids:
            with self.refusal_reported(request, prefix=f"#{pk}: ", also=(DeadLetter.DoesNotExist,)):
                done.append(services.dead_letter_discard(dead_letter_id=pk, reason=reason, database=database).pk)
        if done:
            self.message_user(
                request,
                f"Discarded {len(done)} dead letter(s) ({', '.join(f'#{pk}' for pk in done)}): {reason}",
                messages.SUCCESS,
            )

    def _discard_page(
        self, request: HttpRequest, letters: list[DeadLetter], form: DiscardForm, *, action_field: bool
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Discard dead letters",
            "letters": letters,
            "form": form,
            "action_field": action_field,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/messaging/deadletter/discard.html", context)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # "Change" is replay and discard (the actions and views above); every field stays read-only.
        return request.user.has_perm("messaging.change_deadletter")

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [name for _, options in self.fieldsets for name in options["fields"]]


# The admin index starts with the messaging layer's health (backlog, throughput, dead letters,
# queue lengths).
admin.site.index_template = "admin/messaging/index.html"
