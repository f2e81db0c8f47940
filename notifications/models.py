"""The notifications domain's tables: its copy of the users it writes to, and the log of what it sent."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from project.errors import IllegalTransition
from users.events import EmailPreferences


class Recipient(models.Model):
    """What notifications knows about a user, built ONLY from users events (a local projection).

    The users domain numbers each user's changes with one counter, and every event after
    UserRegistered carries only the part that changed. So the copy keeps a version per part
    (email, display name, preferences) and takes a part only from an event newer than the one
    that part came from: events delivered late, twice or out of order converge on the newest state.
    """

    class EmailFormat(models.TextChoices):
        HTML = "html", "HTML"
        TEXT = "text", "Plain text"

    user_id = models.BigIntegerField(unique=True)
    email = models.EmailField(max_length=254, blank=True)
    display_name = models.CharField(max_length=150, blank=True)
    order_updates = models.BooleanField(default=True)
    new_articles = models.BooleanField(default=False)
    email_format = models.CharField(max_length=4, choices=EmailFormat.choices, default=EmailFormat.HTML)
    # The newest users event applied, and the event version each part was taken from (0: not yet).
    version = models.PositiveIntegerField(default=0)
    email_version = models.PositiveIntegerField(default=0)
    display_name_version = models.PositiveIntegerField(default=0)
    preferences_version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id"]
        indexes = [models.Index(fields=["new_articles"], name="recipient_new_articles")]

    def __str__(self) -> str:
        return f"{self.display_name or '?'} <{self.email or '?'}> (user {self.user_id}, v{self.version})"

    @property
    def is_known(self) -> bool:
        """Enough is known to write to this user and respect their wishes: an address and preferences."""
        return self.email_version > 0 and self.preferences_version > 0

    @property
    def preferences(self) -> EmailPreferences:
        return EmailPreferences(
            order_updates=self.order_updates, new_articles=self.new_articles, email_format=self.email_format
        )

    def apply(
        self,
        *,
        version: int,
        email: str | None = None,
        display_name: str | None = None,
        preferences: EmailPreferences | None = None,
    ) -> bool:
        """Take each given part that is newer than what is held; True if anything changed."""
        changed = False
        if email is not None and version > self.email_version:
            self.email, self.email_version, changed = email, version, True
        if display_name is not None and version > self.display_name_version:
            self.display_name, self.display_name_version, changed = display_name, version, True
        if preferences is not None and version > self.preferences_version:
            self.order_updates = preferences.order_updates
            self.new_articles = preferences.new_articles
            self.email_format = preferences.email_format
            self.preferences_version, changed = version, True
        if changed:
            self.version = max(self.version, version)
        return changed


class Notification(models.Model):
    """One message to one user because of one event: the log, and the guard against sending twice.

    (event_id, user_id, kind) is unique: whatever redelivers or replays an event, its notification
    row is inserted before anything is sent, and a second insert fails instead of a second email.
    New-article notifications are also unique per (user, article): see Meta.
    """

    class Kind(models.TextChoices):
        ORDER_CONFIRMED = "order_confirmed"
        ORDER_FAILED = "order_failed"
        NEW_ARTICLE = "new_article"

    class Channel(models.TextChoices):
        EMAIL = "email"

    class Status(models.TextChoices):
        # Only ever seen inside the sending transaction: it commits as sent or failed.
        PENDING = "pending"
        SENT = "sent"
        SUPPRESSED = "suppressed"
        FAILED = "failed"

    user_id = models.BigIntegerField()
    kind = models.CharField(max_length=32, choices=Kind.choices)
    event_id = models.UUIDField(help_text="The event that caused this notification.")
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(blank=True, help_text="Why it was suppressed or failed.")
    subject = models.CharField(max_length=200, blank=True)
    to_email = models.EmailField(max_length=254, blank=True)
    reference = models.CharField(max_length=64, blank=True, help_text="The order or article it is about.")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event_id", "user_id", "kind"], name="notification_once_per_event"),
            # An article republished after a redraft is announced by a new ArticlePublished; it is
            # not new to anyone, so each user hears about an article at most once.
            models.UniqueConstraint(
                fields=["user_id", "reference"],
                condition=models.Q(kind="new_article"),
                name="notification_new_article_once_per_user",
            ),
        ]
        indexes = [
            models.Index(fields=["user_id", "-created_at"], name="notification_user_recent"),
            models.Index(fields=["status", "kind"], name="notification_status_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to user {self.user_id} ({self.status})"

    def _leave_pending(self, to: str) -> None:
        if self.status != self.Status.PENDING:
            raise IllegalTransition(f"Notification {self.pk} cannot go from {self.status} to {to}.")
        self.status = to

    def mark_sent(self) -> None:
        self._leave_pending(self.Status.SENT)
        self.sent_at = timezone.now()

    def mark_failed(self, reason: str) -> None:
        self._leave_pending(self.Status.FAILED)
        self.reason = reason
