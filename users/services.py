"""Users use cases. Each is an entry service: its own durable transaction, events go out with it.

A user is Django's auth user (credentials, email) plus a UserProfile (display name, email
preferences, version). Every published change bumps the profile's version, under a row lock, so
each user's events carry strictly increasing versions.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from pydantic import ValidationError as PayloadError

from project.errors import DomainError
from project.messaging import database_for, publish
from users.events import (
    EmailPreferences,
    UserDisplayNameChanged,
    UserEmailChanged,
    UserEmailPreferencesChanged,
    UserRegistered,
)
from users.models import UserProfile

# The database this domain's rows and its outbox live in (its own, or the default): every
# service's transaction runs there, so that what it publishes commits with what it changes.
DATABASE = database_for("users")

Errors = dict[str, list[str]]


class UserInputError(DomainError):
    """The input breaks a rule of the users domain. ``errors`` maps each field to its messages."""

    code = "user-input-refused"

    def __init__(self, errors: Errors) -> None:
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))
        self.errors = errors

    def field_errors(self) -> Errors:
        return self.errors


class ProfileNotFound(DomainError):
    """The auth user has no profile (created outside user_register, e.g. by createsuperuser)."""

    code = "profile-not-found"
    status = 404

    def __init__(self, user_id: int) -> None:
        # Said to the user themselves (the API's /users/me/): "this account", not their id.
        super().__init__("This account has no profile yet.")
        self.user_id = user_id


def _email_errors(email: str, *, other_than_user_id: int | None = None) -> list[str]:
    try:
        validate_email(email)
    except ValidationError as exc:
        return list(exc.messages)
    taken = get_user_model().objects.filter(email__iexact=email)
    if other_than_user_id is not None:
        taken = taken.exclude(pk=other_than_user_id)
    return ["A user with that email already exists."] if taken.exists() else []


def _display_name_errors(display_name: str) -> list[str]:
    if not display_name:
        return ["The display name may not be blank."]
    if len(display_name) > UserProfile._meta.get_field("display_name").max_length:
        return ["The display name is too long (150 characters at most)."]
    return []


def _create_profile(*, user, display_name: str, preferences: EmailPreferences) -> UserProfile:
    profile = UserProfile.objects.create(
        user=user,
        display_name=display_name,
        order_updates=preferences.order_updates,
        new_articles=preferences.new_articles,
        email_format=preferences.email_format,
        version=1,
    )
    publish(
        UserRegistered(
            user_id=user.pk,
            email=user.email,
            display_name=profile.display_name,
            preferences=profile.preferences,
            version=profile.version,
        ),
        aggregate_version=profile.version,
    )
    return profile


@transaction.atomic(using=DATABASE, durable=True)
def user_register(
    *,
    username: str,
    email: str,
    password: str,
    display_name: str = "",
    preferences: EmailPreferences | None = None,
) -> UserProfile:
    """Create the auth user and its profile, and publish UserRegistered (version 1).

    Refuses, changing nothing, a username or email already in use (case-insensitively), an
    invalid email, and a password that Django's AUTH_PASSWORD_VALIDATORS reject. A blank display
    name defaults to the username. Two concurrent registrations of one username cannot both win
    (auth_user.username is unique); the email has no database constraint, so two concurrent
    registrations of one email on PostgreSQL could, in a narrow race, both pass the check.
    """
    User = get_user_model()
    username = username.strip()
    email = User.objects.normalize_email(email.strip())
    display_name = display_name.strip() or username
    errors: Errors = {}
    if not username:
        errors["username"] = ["A username is required."]
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["A user with that username already exists."]
    if email_errors := _email_errors(email):
        errors["email"] = email_errors
    if name_errors := _display_name_errors(display_name):
        errors["display_name"] = name_errors
    try:
        validate_password(password, user=User(username=username, email=email))
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise UserInputError(errors)
    try:
        with transaction.atomic(using=DATABASE):
            user = User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError:
        # Lost a race with a concurrent registration of the same username.
        raise UserInputError({"username": ["A user with that username already exists."]}) from None
    return _create_profile(user=user, display_name=display_name, preferences=preferences or EmailPreferences())


@transaction.atomic(using=DATABASE, durable=True)
def user_profile_ensure(
    *, user_id: int, display_name: str = "", preferences: EmailPreferences | None = None
) -> tuple[UserProfile, bool]:
    """Give an existing auth user a profile, publishing UserRegistered, unless it has one already.

    For accounts created outside user_register (createsuperuser, seed data, older rows). Safe to
    repeat: an existing profile is returned unchanged and nothing is published (created=False).
    """
    User = get_user_model()
    # Lock the auth user: two concurrent calls for one user create (and announce) one profile.
    user = User.objects.select_for_update().get(pk=user_id)
    existing = UserProfile.objects.filter(user=user).first()
    if existing is not None:
        return existing, False
    name = display_name.strip() or user.get_username()
    return _create_profile(user=user, display_name=name, preferences=preferences or EmailPreferences()), True


def _locked_profile(user_id: int) -> UserProfile:
    # Lock the profile: concurrent changes of one user get distinct, increasing versions.
    profile = UserProfile.objects.select_for_update().select_related("user").filter(user_id=user_id).first()
    if profile is None:
        raise ProfileNotFound(user_id)
    return profile


@transaction.atomic(using=DATABASE, durable=True)
def user_preferences_change(
    *,
    user_id: int,
    order_updates: bool | None = None,
    new_articles: bool | None = None,
    email_format: str | None = None,
) -> UserProfile:
    """Change some email preferences (None keeps the current value).

    Publishes UserEmailPreferencesChanged with the full new preferences and the bumped version;
    publishes nothing, and keeps the version, when nothing actually changed. Invalid values raise
    UserInputError naming the field, changing nothing.
    """
    profile = _locked_profile(user_id)
    changes = {
        name: value
        for name, value in {
            "order_updates": order_updates,
            "new_articles": new_articles,
            "email_format": email_format,
        }.items()
        if value is not None
    }
    try:
        preferences = EmailPreferences.model_validate({**profile.preferences.model_dump(), **changes}, strict=True)
    except PayloadError as exc:
        raise UserInputError({str(err["loc"][0]): [err["msg"]] for err in exc.errors() if err["loc"]}) from None
    if profile.change_preferences(preferences):
        profile.save(update_fields=["order_updates", "new_articles", "email_format", "version", "updated_at"])
        publish(
            UserEmailPreferencesChanged(user_id=user_id, preferences=profile.preferences, version=profile.version),
            aggregate_version=profile.version,
        )
    return profile


def _change_email(profile: UserProfile, email: str) -> None:
    User = get_user_model()
    email = User.objects.normalize_email(email.strip())
    if email == profile.user.email:
        return
    if errors := _email_errors(email, other_than_user_id=profile.user_id):
        raise UserInputError({"email": errors})
    profile.user.email = email
    profile.user.save(update_fields=["email"])
    profile.record_email_change()
    profile.save(update_fields=["version", "updated_at"])
    publish(
        UserEmailChanged(user_id=profile.user_id, email=email, version=profile.version),
        aggregate_version=profile.version,
    )


def _rename(profile: UserProfile, display_name: str) -> None:
    display_name = display_name.strip()
    if errors := _display_name_errors(display_name):
        raise UserInputError({"display_name": errors})
    if profile.rename(display_name):
        profile.save(update_fields=["display_name", "version", "updated_at"])
        publish(
            UserDisplayNameChanged(user_id=profile.user_id, display_name=display_name, version=profile.version),
            aggregate_version=profile.version,
        )


@transaction.atomic(using=DATABASE, durable=True)
def user_email_change(*, user_id: int, email: str) -> UserProfile:
    """Change the user's email; publishes UserEmailChanged with the bumped version.

    The same email again changes and publishes nothing. An invalid email, or one another user
    has, raises UserInputError and changes nothing.
    """
    profile = _locked_profile(user_id)
    _change_email(profile, email)
    return profile


@transaction.atomic(using=DATABASE, durable=True)
def user_profile_update(*, user_id: int, display_name: str | None = None, email: str | None = None) -> UserProfile:
    """Change the display name and/or the email (None keeps the current value).

    One event per part that actually changed (UserDisplayNameChanged, UserEmailChanged), each
    with its own version. Any invalid part raises UserInputError and the whole update is undone.
    """
    profile = _locked_profile(user_id)
    errors: Errors = {}
    for change, value in ((_rename, display_name), (_change_email, email)):
        if value is None:
            continue
        try:
            change(profile, value)
        except UserInputError as exc:
            errors.update(exc.errors)
    if errors:
        raise UserInputError(errors)
    return profile
