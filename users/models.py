"""The users domain's own table: a profile beside Django's auth user (which this app owns too)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from users.events import EmailPreferences


class UserProfile(models.Model):
    class EmailFormat(models.TextChoices):
        HTML = "html", "HTML"
        TEXT = "text", "Plain text"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    display_name = models.CharField(max_length=150)
    order_updates = models.BooleanField(default=True, help_text="Email me when an order is confirmed or fails.")
    new_articles = models.BooleanField(default=False, help_text="Email me when a new article is published.")
    email_format = models.CharField(max_length=4, choices=EmailFormat.choices, default=EmailFormat.HTML)
    # Grows by one with every change that is published, so consumers can tell newer from older.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id"]

    def __str__(self) -> str:
        return f"{self.display_name} (user {self.user_id}, v{self.version})"

    @property
    def preferences(self) -> EmailPreferences:
        return EmailPreferences(
            order_updates=self.order_updates, new_articles=self.new_articles, email_format=self.email_format
        )

    def change_preferences(self, preferences: EmailPreferences) -> bool:
        """Take the new preferences; bump the version and say True only if something changed."""
        if preferences == self.preferences:
            return False
        self.order_updates = preferences.order_updates
        self.new_articles = preferences.new_articles
        self.email_format = preferences.email_format
        self.version += 1
        return True

    def rename(self, display_name: str) -> bool:
        if display_name == self.display_name:
            return False
        self.display_name = display_name
        self.version += 1
        return True

    def record_email_change(self) -> None:
        """The email lives on the auth user; the profile counts the change."""
        self.version += 1
