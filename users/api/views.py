from __future__ import annotations

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from project.api.throttling import RegistrationRateThrottle
from users import selectors, services
from users.api.serializers import (
    PreferencesSerializer,
    ProfileSerializer,
    ProfileUpdateSerializer,
    RegisterSerializer,
)
from users.events import EmailPreferences
from users.models import UserProfile

NO_PROFILE = "This account has no profile yet."
_NO_PROFILE = OpenApiResponse(description=NO_PROFILE)


def _own_profile(request: Request) -> UserProfile:
    profile = selectors.user_profile_get(user_id=request.user.pk)
    if profile is None:
        raise NotFound(NO_PROFILE)
    return profile


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class RegisterView(APIView):
    """Create an account. Anyone may register; log in afterwards at /api/auth/token/."""

    permission_classes = [AllowAny]
    throttle_classes = [RegistrationRateThrottle]

    @extend_schema(request=RegisterSerializer, responses={201: ProfileSerializer})
    def post(self, request: Request) -> Response:
        incoming = RegisterSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        profile = services.user_register(
            username=data["username"],
            email=data["email"],
            password=data["password"],
            display_name=data.get("display_name", ""),
            preferences=EmailPreferences(**data["preferences"]) if "preferences" in data else None,
        )
        return Response(ProfileSerializer(profile).data, status=status.HTTP_201_CREATED)


class MeView(APIView):
    """The logged-in user's own account: display name and email."""

    @extend_schema(responses={200: ProfileSerializer, 404: _NO_PROFILE})
    def get(self, request: Request) -> Response:
        return Response(ProfileSerializer(_own_profile(request)).data)

    @extend_schema(request=ProfileUpdateSerializer, responses={200: ProfileSerializer, 404: _NO_PROFILE})
    def patch(self, request: Request) -> Response:
        incoming = ProfileUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        profile = services.user_profile_update(user_id=request.user.pk, **incoming.validated_data)
        return Response(ProfileSerializer(profile).data)


class MePreferencesView(APIView):
    """The logged-in user's email preferences. PATCH changes only the fields it names."""

    @extend_schema(responses={200: PreferencesSerializer, 404: _NO_PROFILE})
    def get(self, request: Request) -> Response:
        return Response(PreferencesSerializer(_own_profile(request).preferences.model_dump()).data)

    @extend_schema(
        request=PreferencesSerializer(partial=True), responses={200: PreferencesSerializer, 404: _NO_PROFILE}
    )
    def patch(self, request: Request) -> Response:
        incoming = PreferencesSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        profile = services.user_preferences_change(user_id=request.user.pk, **incoming.validated_data)
        return Response(PreferencesSerializer(profile.preferences.model_dump()).data)
