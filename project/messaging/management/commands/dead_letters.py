"""List, replay or discard dead letters, by id, fingerprint or age."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from project.management import DomainCommand
from project.messaging.models import DeadLetter
from project.messaging.operations import selectors, services
from project.messaging.registry.databases import messaging_databases

OPEN = [DeadLetter.Status.DEAD, DeadLetter.Status.REPLAYING]


class Command(DomainCommand):
    help = (
        "Dead letters: `list` (grouped by fingerprint with --groups), `replay` or `discard --reason` "
        "selected by ids, --fingerprint, --handler or --older-than-minutes."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["list", "replay", "discard"])
        parser.add_argument("ids", nargs="*", type=int, help="Dead letter ids.")
        parser.add_argument("--fingerprint", help="Letters of one cause (see list --groups).")
        parser.add_argument("--handler", help="Letters of one handler, e.g. inventory.reserve_order_line.")
        parser.add_argument("--older-than-minutes", type=float, help="Letters whose last failure is older than this.")
        parser.add_argument("--all", action="store_true", help="Include resolved and discarded (list).")
        parser.add_argument(
            "--groups", action="store_true", help="List groups by cause: handler, message type and error (fingerprint)."
        )
        parser.add_argument("--reason", default="", help="Why (required for discard).")
        parser.add_argument(
            "--inline", action="store_true", help="Replay in this process instead of via the worker queue."
        )

    def handle(self, *args: Any, action: str, ids: list[int], **opts: Any) -> None:
        selected = self._select(ids, opts, open_only=not (action == "list" and opts["all"]))
        if action == "list":
            return self._list(selected, groups=opts["groups"])
        if not (ids or opts["fingerprint"] or opts["handler"] or opts["older_than_minutes"] is not None):
            raise CommandError(
                f"{action}: say which dead letters (ids, --fingerprint, --handler or --older-than-minutes)."
            )
        letters = [letter for qs in selected for letter in qs]
        missing = set(ids) - {letter.pk for letter in letters}
        if missing:
            raise CommandError(f"No open dead letter with id {', '.join(map(str, sorted(missing)))}.")
        if not letters:
            raise CommandError("No open dead letter matches.")
        if action == "discard" and not opts["reason"].strip():
            raise CommandError("discard needs --reason: it is recorded with the dead letter.")
        failures = 0
        for letter in letters:
            with self.refusal_reported(prefix=f"#{letter.pk}: "):  # one refused letter does not stop the rest
                if action == "replay":
                    done = services.dead_letter_replay(
                        dead_letter_id=letter.pk, inline=opts["inline"], database=letter._state.db
                    )
                else:
                    done = services.dead_letter_discard(
                        dead_letter_id=letter.pk, reason=opts["reason"], database=letter._state.db
                    )
                self.stdout.write(
                    f"#{done.pk} {done.handler} {done.event_type}: {done.status} (replays {done.replay_count})"
                )
                if action == "replay" and opts["inline"] and done.status == DeadLetter.Status.DEAD:
                    failures += 1
                    self.stderr.write(f"#{done.pk}: failed again: {done.error_type}: {done.error_message[:200]}")
        failures += self.refusals
        if failures:
            raise CommandError(f"{failures} of {len(letters)} dead letters could not be {action}ed.")

    def _select(self, ids: list[int], opts: dict[str, Any], open_only: bool) -> list[Any]:
        result = []
        for alias in messaging_databases():
            qs = DeadLetter.objects.using(alias).all()
            if open_only:
                qs = qs.filter(status__in=OPEN)
            if ids:
                qs = qs.filter(pk__in=ids)
            if opts["fingerprint"]:
                qs = qs.filter(fingerprint=opts["fingerprint"])
            if opts["handler"]:
                qs = qs.filter(handler=opts["handler"])
            if opts["older_than_minutes"] is not None:
                qs = qs.filter(last_failed_at__lt=timezone.now() - timedelta(minutes=opts["older_than_minutes"]))
            result.append(qs)
        return result

    def _list(self, selected: list[Any], groups: bool) -> None:
        if not any(qs.exists() for qs in selected):
            self.stdout.write("no dead letters match")
            return
        if groups:  # the same groups as the admin's "Grouped by cause" page
            for group in selectors.dead_letter_groups(selected=selected):
                self.stdout.write(
                    f"{group.fingerprint}  x{group.count}  {', '.join(group.handlers)}  "
                    f"{', '.join(group.event_types)}  {group.error_type}  open {group.open_count}  "
                    f"first {group.first_seen:%Y-%m-%d %H:%M:%S}  last {group.last_seen:%Y-%m-%d %H:%M:%S}  "
                    f"{group.sample_message[:120]}"
                )
            return
        for qs in selected:
            for letter in qs.order_by("-last_failed_at"):
                self.stdout.write(
                    f"#{letter.pk}  {letter.status}  {letter.handler}  {letter.event_type}  "
                    f"attempts {letter.attempts}  replays {letter.replay_count}  {letter.fingerprint}  "
                    f"{letter.error_type}: {letter.error_message[:120]}"
                )
