from __future__ import annotations

import pytest

from tests.factories.users import UserProfileFactory
from users.events import EmailPreferences

pytestmark = pytest.mark.django_db


def test_new_preferences_bump_the_version_only_when_something_changed() -> None:
    profile = UserProfileFactory(order_updates=True, new_articles=False, email_format="html")
    assert not profile.change_preferences(EmailPreferences())
    assert profile.version == 1
    assert profile.change_preferences(EmailPreferences(new_articles=True))
    assert (profile.new_articles, profile.version) == (True, 2)


def test_renaming_to_the_same_name_is_not_a_change() -> None:
    profile = UserProfileFactory(display_name="Alice")
    assert not profile.rename("Alice")
    assert profile.rename("Alice Liddell")
    assert profile.version == 2
