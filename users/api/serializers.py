from __future__ import annotations

from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers

from users.models import UserProfile


class RejectUnknownFieldsMixin:
    """A field this endpoint does not take is a mistake worth a 400, not something to ignore."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(getattr(self, "initial_data", {}) or {}) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["This field cannot be set here."] for name in unknown})
        return super().validate(attrs)


class PreferencesSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    order_updates = serializers.BooleanField(help_text="Email me when an order is confirmed or fails.")
    new_articles = serializers.BooleanField(help_text="Email me when a new article is published.")
    email_format = serializers.ChoiceField(choices=UserProfile.EmailFormat.choices)


class RegisterSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(
        write_only=True, max_length=128, trim_whitespace=False, style={"input_type": "password"}
    )
    display_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    preferences = PreferencesSerializer(required=False)


class ProfileUpdateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    display_name = serializers.CharField(max_length=150, required=False)
    email = serializers.EmailField(max_length=254, required=False)


class ProfileSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="user_id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    preferences = serializers.SerializerMethodField()

    class Meta:
        model = UserProfile
        fields = ["id", "username", "email", "display_name", "preferences", "version"]
        read_only_fields = fields

    def get_preferences(self, profile: UserProfile) -> dict[str, Any]:
        return PreferencesSerializer(profile.preferences.model_dump()).data
