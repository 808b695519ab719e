"""The users API: registration, tokens, profiles and the follow graph."""

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.converters import USERNAME_MAX_CHARS
from config.schema import error_response
from users import selectors, services
from users.auth import signup_check
from users.models import USERNAME_RULE, User, UsernameValidator

USERNAME_VALIDATOR = UsernameValidator()


class UserSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "display_name"]


class UserProfileSerializer(serializers.ModelSerializer):
    followers_count = serializers.IntegerField(read_only=True)
    following_count = serializers.IntegerField(read_only=True)
    is_following = serializers.BooleanField(read_only=True, default=False)

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "bio", "followers_count", "following_count", "is_following"]


class RegisterSerializer(serializers.Serializer):
    username = serializers.RegexField(
        USERNAME_VALIDATOR.regex,
        max_length=USERNAME_MAX_CHARS,
        error_messages={"invalid": USERNAME_RULE},
        help_text=f"{USERNAME_RULE} Unique without regard to case.",
    )
    password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=128)
    display_name = serializers.CharField(max_length=50, required=False, default="")


class RegisteredSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    token = serializers.CharField(help_text="the API token: send it as `Authorization: Token <token>`")


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)


class RegisterView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(request=RegisterSerializer, responses={201: RegisteredSerializer})
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        signup_check(request=request, username=serializer.validated_data["username"])
        with transaction.atomic():
            user = services.user_create(**serializer.validated_data)
            token = Token.objects.create(user=user)
        return Response({"id": user.pk, "username": user.username, "token": token.key}, status.HTTP_201_CREATED)


class TokenView(ObtainAuthToken):
    """Exchange a username and password for the user's API token. Limited
    per client IP and, for failures, per username (users.auth): 429."""

    @extend_schema(responses={200: TokenSerializer})
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})


def profile_or_404(request, username: str) -> User:
    return get_object_or_404(selectors.user_profiles(viewer=request.user).named(username))


class UserDetailView(APIView):
    @extend_schema(responses=UserProfileSerializer)
    def get(self, request, username):
        return Response(UserProfileSerializer(profile_or_404(request, username)).data)


class FollowView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={201: UserProfileSerializer, 400: error_response("You cannot follow yourself.")},
    )
    def post(self, request, username):
        followee = get_object_or_404(User.objects.named(username), is_active=True)
        services.follow_create(follower=request.user, followee=followee)
        return Response(UserProfileSerializer(profile_or_404(request, username)).data, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, username):
        followee = get_object_or_404(User.objects.named(username), is_active=True)
        services.follow_delete(follower=request.user, followee=followee)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FollowPagination(CursorPagination):
    ordering = ("-followed_at", "-id")


class FollowersView(generics.ListAPIView):
    """Who follows the user, most recent first."""

    serializer_class = UserSummarySerializer
    pagination_class = FollowPagination

    def get_queryset(self):
        user = get_object_or_404(User.objects.named(self.kwargs["username"]), is_active=True)
        return selectors.followers_of(user=user)


class FollowingView(FollowersView):
    """Whom the user follows, most recent first."""

    def get_queryset(self):
        user = get_object_or_404(User.objects.named(self.kwargs["username"]), is_active=True)
        return selectors.following_of(user=user)
