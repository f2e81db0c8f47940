"""Settings of the worker processes in the users/notifications flow tests.

A short grace for unknown recipients, and enough (fast) retries to outlast it, so that "retried,
then logged as failed" happens within a test.
"""

from tests.settings import *  # noqa: F403

NOTIFICATIONS_UNKNOWN_RECIPIENT_GRACE_SECONDS = 2.0
MESSAGING_MAX_ATTEMPTS = 30
