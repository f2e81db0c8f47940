"""The admin's one mapping of domain errors: a rule's refusal is an error message, never a 500.

Every ModelAdmin whose actions or views call services derives from ``DomainErrorAdmin``:

- an action that raises a ``DomainError`` ends with the error's message (level ERROR) on the
  change list, as if it had returned;
- a custom view registered through ``self.admin_view`` (instead of ``admin_site.admin_view``)
  that raises one redirects to the change list with the message;
- an action over many objects that goes on past a refusal wraps each service call in
  ``with self.refusal_reported(request, prefix=...)``: that object's refusal is reported, the
  others are carried out.

A refused service has rolled back its own transaction; nothing here needs to undo anything.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.text import capfirst

from project.errors import DomainError

Action = Callable[[admin.ModelAdmin, HttpRequest, QuerySet], HttpResponse | None]


class DomainErrorAdmin(admin.ModelAdmin):
    """A ModelAdmin whose actions and custom views report a ``DomainError`` as an error message."""

    #: The change page shows a record whose every field is read-only: no Save (nor Delete)
    #: buttons, only Close, even for staff whose change permission grants the admin's actions.
    read_only_record = False

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        if self.read_only_record:
            context.update(
                show_save=False, show_save_and_continue=False, show_save_and_add_another=False, show_delete=False
            )
            if kwargs.get("obj") is not None:
                context["title"] = capfirst(self.model._meta.verbose_name)  # not "Change ...": nothing is
        return super().render_change_form(request, context, *args, **kwargs)

    @contextmanager
    def refusal_reported(
        self, request: HttpRequest, *, prefix: str = "", also: tuple[type[Exception], ...] = ()
    ) -> Iterator[None]:
        """Report a ``DomainError`` (or one of ``also``: a row that vanished meanwhile) raised in
        the block as an error message starting with ``prefix``, and go on after the block."""
        try:
            yield
        except (DomainError, *also) as exc:
            self.message_user(request, f"{prefix}{exc}", level=messages.ERROR)

    def get_action(self, action: str | Action) -> tuple[Action, str, str] | None:
        found = super().get_action(action)
        if found is None:
            return None
        func, name, description = found
        return self._reporting_action(func), name, description

    def _reporting_action(self, func: Action) -> Action:
        # functools.wraps keeps the attributes Django reads (allowed_permissions, short_description).
        @functools.wraps(func)
        def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
            with self.refusal_reported(request):
                return func(modeladmin, request, queryset)
            return None  # refused: back to the change list, which shows the message

        return action

    def admin_view(self, view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        """``admin_site.admin_view(view)``, and a refusal in ``view`` is a message on the change list."""

        @functools.wraps(view)
        def reporting(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            with self.refusal_reported(request):
                return view(request, *args, **kwargs)
            opts = self.model._meta
            changelist = f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_changelist"
            return HttpResponseRedirect(reverse(changelist))

        return self.admin_site.admin_view(reporting)
