"""The users API: registration, tokens, profiles, the follow graph, mutes and
blocks, and notifications."""

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.converters import USERNAME_MAX_CHARS
from config.schema import error_response
from users import avatars, selectors, services
from users.auth import signup_check
from users.models import USERNAME_RULE, MutedWord, Notification, User, UsernameValidator
from users.selectors import notifications_hydrated

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
    """The profile, or a 404 when there is none or its owner blocked the viewer."""
    profiles = selectors.user_profiles(viewer=request.user).exclude(selectors.blocked_q(request.user, "pk"))
    return get_object_or_404(profiles.named(username))


def person_or_404(request, username: str) -> User:
    """An active user the viewer may see (not one who blocked them), or a 404."""
    people = User.objects.named(username).filter(is_active=True).exclude(selectors.blocked_q(request.user, "pk"))
    return get_object_or_404(people)


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
        followee = person_or_404(request, username)
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
        user = person_or_404(self.request, self.kwargs["username"])
        return selectors.followers_of(user=user)


class FollowingView(FollowersView):
    """Whom the user follows, most recent first."""

    def get_queryset(self):
        user = person_or_404(self.request, self.kwargs["username"])
        return selectors.following_of(user=user)


# --- Mute, block, muted words ----------------------------------------------------


class MutedSerializer(serializers.Serializer):
    username = serializers.CharField()
    muted = serializers.BooleanField()


class BlockedSerializer(serializers.Serializer):
    username = serializers.CharField()
    blocked = serializers.BooleanField()


class MuteView(APIView):
    """Mute someone: their tweets, retweets and notifications leave your
    feeds and notifications; they are not told."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={201: MutedSerializer, 400: error_response("You cannot mute yourself.")})
    def post(self, request, username):
        person = get_object_or_404(User.objects.named(username), is_active=True)
        services.mute_create(user=request.user, muted=person)
        return Response({"username": person.username, "muted": True}, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, username):
        services.mute_delete(user=request.user, muted=get_object_or_404(User.objects.named(username), is_active=True))
        return Response(status=status.HTTP_204_NO_CONTENT)


class BlockView(APIView):
    """Block someone: the follows between you go both ways, neither can
    follow the other, they cannot reply to you nor notify you, and, logged
    in, they see none of your tweets (a 404, as if you did not exist)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={201: BlockedSerializer, 400: error_response("You cannot block yourself.")})
    def post(self, request, username):
        # Anyone, also someone who blocked you first (whom you cannot see).
        person = get_object_or_404(User.objects.named(username), is_active=True)
        services.block_create(user=request.user, blocked=person)
        return Response({"username": person.username, "blocked": True}, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, username):
        services.block_delete(
            user=request.user, blocked=get_object_or_404(User.objects.named(username), is_active=True)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MutedWordSerializer(serializers.ModelSerializer):
    word = serializers.CharField(
        max_length=services.MUTED_WORD_MAX_CHARS + 1,
        help_text="one word: letters, digits and underscores, with an optional leading # (stored without it, "
        "lower-case); it hides tweets holding it as a word or a hashtag, in any case",
    )

    class Meta:
        model = MutedWord
        fields = ["id", "word", "created_at"]
        read_only_fields = ["id", "created_at"]


class MutedWordsView(generics.ListAPIView):
    """Your muted words, newest first; POST mutes one more (muting it again
    answers with the first)."""

    permission_classes = [IsAuthenticated]
    serializer_class = MutedWordSerializer

    def get_queryset(self):
        return selectors.muted_words_of(self.request.user)

    @extend_schema(request=MutedWordSerializer, responses={201: MutedWordSerializer})
    def post(self, request):
        serializer = MutedWordSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        muted = services.muted_word_create(user=request.user, word=serializer.validated_data["word"])
        return Response(MutedWordSerializer(muted).data, status.HTTP_201_CREATED)


class MutedWordView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, muted_word_id):
        """Unmute one of your words; someone else's id is a 404."""
        if not services.muted_word_delete(user=request.user, muted_word_id=muted_word_id):
            raise NotFound("You have no muted word with this id.")
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Notifications ---------------------------------------------------------------


class NotificationTweetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField(allow_blank=True, help_text="empty for a retweet")


class NotificationSerializer(serializers.Serializer):
    """One line of the list: a notification, or the likes (or retweets) of
    one of your tweets grouped ("alice and 3 others liked your tweet")."""

    id = serializers.IntegerField(help_text="the newest notification of the group")
    kind = serializers.ChoiceField(choices=Notification.Kind.choices)
    created_at = serializers.DateTimeField(help_text="when the newest of the group happened")
    actor = UserSummarySerializer(help_text="who did it (the newest, in a group)")
    others = serializers.IntegerField(help_text="how many more people did the same (likes and retweets)")
    tweet = NotificationTweetSerializer(
        allow_null=True,
        help_text="the tweet liked or retweeted; the reply, or the tweet mentioning you; null for a follow",
    )
    unread = serializers.BooleanField(help_text="it holds a notification not yet marked read")
    text = serializers.CharField(help_text="what a person reads, in English")


class NotificationPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    unread = serializers.IntegerField(help_text="how many lines of the whole list are unread: the bell's number")
    results = NotificationSerializer(many=True)


class NotificationPagination(CursorPagination):
    ordering = ("-latest", "-last_id")


class NotificationsView(generics.GenericAPIView):
    """Your notifications, newest first: mentions, replies, likes, retweets
    and follows, none from people you muted or blocked (or who blocked you),
    none about a tweet holding a word you muted. Likes of one tweet are one
    line, and so are its retweets. Three queries a page."""

    permission_classes = [IsAuthenticated]
    pagination_class = NotificationPagination
    serializer_class = NotificationSerializer

    def get_queryset(self):
        return selectors.notification_groups(viewer=self.request.user)

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str, description="the `next` or `previous` link's cursor")],
        responses=NotificationPageSerializer,
    )
    def get(self, request):
        groups = self.paginate_queryset(self.get_queryset())
        page = self.paginator.get_paginated_response([notification_data(g) for g in notifications_hydrated(groups)])
        page.data["unread"] = selectors.notifications_unread_count(viewer=request.user)
        return page


def notification_data(group: dict) -> dict:
    notification = group["notification"]
    tweet = notification.tweet
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "created_at": serializers.DateTimeField().to_representation(group["latest"]),
        "actor": {
            "id": notification.actor.pk,
            "username": notification.actor.username,
            "display_name": notification.actor.display_name,
        },
        "others": group["count"] - 1,
        "tweet": {"id": tweet.pk, "text": tweet.text} if tweet is not None else None,
        "unread": group["unread"] > 0,
        "text": notification_text(group),
    }


NOTIFICATION_VERBS = {
    Notification.Kind.MENTION: "mentioned you",
    Notification.Kind.REPLY: "replied to your tweet",
    Notification.Kind.LIKE: "liked your tweet",
    Notification.Kind.RETWEET: "retweeted your tweet",
    Notification.Kind.FOLLOW: "followed you",
}


def notification_text(group: dict) -> str:
    """ "alice liked your tweet", "alice and 3 others liked your tweet"."""
    actor = group["notification"].actor
    others = group["count"] - 1
    who = actor.shown_name
    if others == 1:
        who += " and 1 other"
    elif others > 1:
        who += f" and {others} others"
    return f"{who} {NOTIFICATION_VERBS[group['notification'].kind]}"


class NotificationsReadSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="notifications marked read now")
    unread = serializers.IntegerField(help_text="unread lines left (made since)")


class NotificationsReadView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: NotificationsReadSerializer})
    def post(self, request):
        """Mark all your notifications read, up to now."""
        marked = services.notifications_read(user=request.user)
        return Response({"marked": marked, "unread": selectors.notifications_unread_count(viewer=request.user)})
