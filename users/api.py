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
from users import avatars, selectors, services
from users.auth import signup_check
from users.models import USERNAME_RULE, User, UsernameValidator

USERNAME_VALIDATOR = UsernameValidator()


AVATAR_URL_HELP = (
    "the avatar: the uploaded one in the media storage, else a generated SVG of the initials "
    "(a path on this server, or a full URL when the media storage is elsewhere)"
)


class UserSummarySerializer(serializers.ModelSerializer):
    avatar_url = serializers.CharField(read_only=True, help_text=AVATAR_URL_HELP)

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "avatar_url"]


class UserProfileSerializer(serializers.ModelSerializer):
    avatar_url = serializers.CharField(read_only=True, help_text=AVATAR_URL_HELP)
    followers_count = serializers.IntegerField(read_only=True)
    following_count = serializers.IntegerField(read_only=True)
    is_following = serializers.BooleanField(read_only=True, default=False)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "display_name",
            "bio",
            "avatar_url",
            "followers_count",
            "following_count",
            "is_following",
        ]


class ProfileUpdateSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=50, required=False, allow_blank=True)
    bio = serializers.CharField(max_length=160, required=False, allow_blank=True, trim_whitespace=False)


class AvatarUploadSerializer(serializers.Serializer):
    avatar = serializers.FileField(
        help_text="a JPEG, PNG, GIF or WebP image of at most 2 MB (and 16 megapixels); "
        "it is cropped to a square and stored as a 256 px JPEG without its metadata"
    )


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


def my_profile(request) -> User:
    return selectors.user_profiles(viewer=request.user).get(pk=request.user.pk)


class MeView(APIView):
    """The profile of the user logged in, and what they may change of it."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=UserProfileSerializer)
    def get(self, request):
        return Response(UserProfileSerializer(my_profile(request)).data)

    @extend_schema(request=ProfileUpdateSerializer, responses=UserProfileSerializer)
    def patch(self, request):
        """Change the display name (at most 50 characters) or the bio (at most 160)."""
        serializer = ProfileUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_profile_update(user=request.user, **serializer.validated_data)
        return Response(UserProfileSerializer(my_profile(request)).data)


class AvatarView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request={"multipart/form-data": AvatarUploadSerializer}, responses=UserProfileSerializer)
    def put(self, request):
        """Upload an avatar (multipart, field `avatar`). Not an image, over 2
        MB or a decompression bomb: a 400 naming `avatar`, nothing stored."""
        serializer = AvatarUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        avatars.avatar_set(user=request.user, upload=serializer.validated_data["avatar"])
        return Response(UserProfileSerializer(my_profile(request)).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request):
        """Go back to the generated avatar."""
        avatars.avatar_delete(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


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
