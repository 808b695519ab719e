"""The tweets, feed and engagement API. Views parse input, call one service
and shape its output."""

from urllib.parse import urlencode

from django.conf import settings
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config import ratelimit
from config.api import BIGINT_MAX, CreatedAtCursorPagination, IntegerPrimaryKeyRelatedField, OldestFirstPagination
from config.schema import error_response
from feed import selectors, services
from feed.models import Engagement, FeedRequest, Report, Tweet
from users.api import UserProfileSerializer, UserSummarySerializer, person_or_404
from users.models import User
from users.selectors import users_search

POSITION_MAX = 10_000


class OriginalTweetSerializer(serializers.ModelSerializer):
    """A tweet as shown in a card. `liked` and `retweeted` describe the viewer's
    state on what actions act on: the original, for a retweet."""

    author = UserSummarySerializer(read_only=True)
    liked = serializers.BooleanField(read_only=True, default=False)
    retweeted = serializers.BooleanField(read_only=True, default=False)

    class Meta:
        model = Tweet
        fields = [
            "id",
            "author",
            "text",
            "created_at",
            "reply_to",
            "like_count",
            "reply_count",
            "retweet_count",
            "liked",
            "retweeted",
        ]


class TweetSerializer(OriginalTweetSerializer):
    retweet_of = OriginalTweetSerializer(read_only=True, allow_null=True, help_text="the original, for a retweet")

    class Meta(OriginalTweetSerializer.Meta):
        fields = [*OriginalTweetSerializer.Meta.fields, "retweet_of"]

    def to_representation(self, tweet):
        data = super().to_representation(tweet)
        if data["retweet_of"]:  # the viewer's state was read on the original already
            data["retweet_of"].update(liked=data["liked"], retweeted=data["retweeted"])
        return data


class FeedItemSerializer(TweetSerializer):
    """A feed item: the tweet, its position in the feed request and, when
    ranked, its score and why it is there ("Why am I seeing this?")."""

    position = serializers.IntegerField(read_only=True, help_text="place in the feed request, from 0")
    score = serializers.FloatField(read_only=True, allow_null=True, help_text="the ranking score; null when not ranked")
    reasons = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text='"Why am I seeing this?" (empty when not ranked)'
    )
    also_retweeted_by = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="the latest timeline shows each original once, at its newest retweet by someone you follow "
        "(or you): the username of the latest other one of them who retweeted it before this item's author, "
        "you left out (`retweeted` says whether you did); null when none, and in a ranked feed",
    )
    also_retweeted_count = serializers.IntegerField(
        read_only=True, help_text="how many people you follow retweeted it before this item's author, you left out"
    )

    class Meta(TweetSerializer.Meta):
        fields = [
            *TweetSerializer.Meta.fields,
            "position",
            "score",
            "reasons",
            "also_retweeted_by",
            "also_retweeted_count",
        ]

    def to_representation(self, item: services.FeedItem) -> dict:
        # Serialises a FeedItem: the tweet's own fields, then the item's.
        return {
            **TweetSerializer(item.tweet).data,
            "position": item.position,
            "score": item.score,
            "reasons": list(item.reasons),
            **_also_retweeted(item.tweet),
        }


# The feed page's items, as plain dicts: the shape FeedItemSerializer
# documents (the schema and a test hold them equal), built without a
# serializer per item. DRF built every nested ModelSerializer's fields again
# for each of the page's 20 items: half of a feed read's time (README,
# "Serving benchmark").
_DATETIME = serializers.DateTimeField()


def _user_card(user: User) -> dict:
    return {"id": user.pk, "username": user.username, "display_name": user.display_name, "avatar_url": user.avatar_url}


def _tweet_card(tweet: Tweet, liked: bool, retweeted: bool) -> dict:
    return {
        "id": tweet.pk,
        "author": _user_card(tweet.author),
        "text": tweet.text,
        "created_at": _DATETIME.to_representation(tweet.created_at),
        "reply_to": tweet.reply_to_id,
        "like_count": tweet.like_count,
        "reply_count": tweet.reply_count,
        "retweet_count": tweet.retweet_count,
        "liked": liked,
        "retweeted": retweeted,
    }


def feed_item_data(item: services.FeedItem) -> dict:
    """What FeedItemSerializer(item).data holds: the viewer's state (read on
    the original, for a retweet) on the card and on its original."""
    tweet = item.tweet
    liked, retweeted = bool(getattr(tweet, "liked", False)), bool(getattr(tweet, "retweeted", False))
    original = tweet.retweet_of
    return {
        **_tweet_card(tweet, liked, retweeted),
        "retweet_of": _tweet_card(original, liked, retweeted) if original is not None else None,
        "position": item.position,
        "score": item.score,
        "reasons": list(item.reasons),
        **_also_retweeted(tweet),
    }


def _also_retweeted(tweet: Tweet) -> dict:
    """Set on the latest timeline's tweets (feed.selectors.timeline_latest), absent on a ranked feed's."""
    return {
        "also_retweeted_by": getattr(tweet, "also_retweeted_by", None),
        "also_retweeted_count": getattr(tweet, "also_retweeted_count", 0),
    }


class FeedSerializer(serializers.Serializer):
    feed_request = serializers.UUIDField()
    mode = serializers.ChoiceField(choices=services.FEED_MODES, help_text="what ordered this page")
    ranking = serializers.ChoiceField(
        choices=["ranked", "pending", "off"],
        help_text='"pending": no ranked list yet, this is the latest timeline while one is built; '
        '"off": the latest timeline, asked for, or what the viewer\'s experiment variant serves, or because '
        "ranking is unavailable (no model can rank, or the broker is down)",
    )
    model_version = serializers.CharField(allow_blank=True)
    experiment = serializers.CharField(
        allow_null=True, help_text="the online experiment the viewer is in, null when none; its events carry it"
    )
    variant = serializers.CharField(allow_null=True, help_text="the viewer's variant in `experiment`, null when none")
    caught_up = serializers.BooleanField(help_text="a ranked feed served to its end: nothing left to show")
    next = serializers.URLField(allow_null=True)
    results = FeedItemSerializer(many=True)


class TweetCreateSerializer(serializers.Serializer):
    text = serializers.CharField(
        min_length=1,
        max_length=settings.TWEET_MAX_CHARS,
        help_text="at least one visible character; no control character but the line break",
    )
    reply_to = IntegerPrimaryKeyRelatedField(queryset=Tweet.objects.visible(), required=False, allow_null=True)


class ViewerFeedRequestField(serializers.PrimaryKeyRelatedField):
    """A feed request id (a UUID), accepted only if it is the requesting user's own."""

    def __init__(self, **kwargs):
        super().__init__(pk_field=serializers.UUIDField(), **kwargs)

    def get_queryset(self):
        return FeedRequest.objects.filter(user=self.context["request"].user)


class ServedSerializer(serializers.Serializer):
    """Optional context of an action: the feed load and position it came from."""

    feed_request = ViewerFeedRequestField(required=False, allow_null=True, default=None)
    position = serializers.IntegerField(min_value=0, max_value=POSITION_MAX, required=False, default=None)


class ReportSerializer(ServedSerializer):
    reason = serializers.ChoiceField(choices=Report.Reason.choices)


class EventSerializer(serializers.Serializer):
    id = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="the client's own id for the event (a UUID it made): an event resent with an id already stored "
        "is counted in `duplicates` and not stored again, so a batch may be retried safely",
    )
    tweet = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)
    kind = serializers.ChoiceField(
        choices=Engagement.CLIENT_KINDS,
        error_messages={
            "invalid_choice": '"{input}" is not a client event: send impression, dwell or click; '
            "likes, replies, retweets, hides and reports have their own endpoints."
        },
    )
    dwell_ms = serializers.IntegerField(min_value=1, max_value=settings.DWELL_MAX_MS, required=False, allow_null=True)
    feed_request = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="the feed request that served the tweet: it must have served it, at `position` when given "
        "(without `position`, the event takes the one it was served at). An impression is stored once per feed "
        "request and position: a repeat, with or without an `id`, counts as a duplicate",
    )
    position = serializers.IntegerField(min_value=0, max_value=POSITION_MAX, required=False, allow_null=True)
    at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="when it happened, on the client's clock (ISO 8601); send the batch's `sent_at` beside it",
    )

    def validate(self, event):
        dwell = event.get("dwell_ms") is not None
        if event["kind"] == Engagement.Kind.DWELL and not dwell:
            raise serializers.ValidationError({"dwell_ms": "A dwell event needs dwell_ms."})
        if event["kind"] != Engagement.Kind.DWELL and dwell:
            raise serializers.ValidationError({"dwell_ms": "Only a dwell event carries dwell_ms."})
        return event


class EngagementBatchSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=EventSerializer(), min_length=1, max_length=settings.ENGAGEMENT_BATCH_MAX_EVENTS
    )
    sent_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        write_only=True,
        help_text="the client's clock when it sent the batch: corrects the events' `at` for a wrong clock",
    )

    def validate_events(self, events):
        """Resolve every tweet and feed request of the batch in two queries."""
        tweet_ids = {event["tweet"] for event in events}
        # Events land on the original of a retweet, where actions land too.
        originals = dict(
            Tweet.objects.visible().filter(pk__in=tweet_ids).values_list("pk", Coalesce("retweet_of_id", "pk"))
        )
        request_ids = {event["feed_request"] for event in events if event.get("feed_request")}
        feed_requests = FeedRequest.objects.filter(user=self.context["request"].user).in_bulk(request_ids)
        errors = {}
        for index, event in enumerate(events):
            if event["tweet"] not in originals:
                errors[index] = {"tweet": [f"No tweet with id {event['tweet']}."]}
            elif event.get("feed_request") and event["feed_request"] not in feed_requests:
                errors[index] = {"feed_request": ["Unknown feed request."]}
        if errors:
            raise serializers.ValidationError(errors)
        return [
            services.ClientEvent(
                tweet_id=originals[event["tweet"]],
                kind=event["kind"],
                dwell_ms=event.get("dwell_ms"),
                feed_request=feed_requests.get(event.get("feed_request")),
                position=event.get("position"),
                at=event.get("at"),
                id=event.get("id"),
            )
            for event in events
        ]


class EngagementBatchLoggedSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="the batch's events: a batch is logged whole or not at all")
    stored = serializers.IntegerField(help_text="events written now")
    duplicates = serializers.IntegerField(
        help_text="events stored already: resent under an `id` stored before, or an impression its feed request "
        "and position have already"
    )


def tweet_or_404(tweet_id: int, viewer: User | None = None) -> Tweet:
    return get_object_or_404(selectors.tweets_hydrated(viewer=viewer), pk=tweet_id)


def tweet_response(request, tweet: Tweet, code=status.HTTP_200_OK) -> Response:
    """The tweet as it is now, with the viewer's state."""
    return Response(TweetSerializer(tweet_or_404(tweet.pk, request.user)).data, status=code)


class TweetCreateView(APIView):
    @extend_schema(request=TweetCreateSerializer, responses={201: TweetSerializer})
    def post(self, request):
        serializer = TweetCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tweet = services.tweet_create(author=request.user, **serializer.validated_data)
        return tweet_response(request, tweet, status.HTTP_201_CREATED)


class TweetDetailView(APIView):
    @extend_schema(responses=TweetSerializer)
    def get(self, request, tweet_id):
        return tweet_response(request, tweet_or_404(tweet_id, request.user))

    @extend_schema(responses={204: None})
    def delete(self, request, tweet_id):
        services.tweet_delete(tweet=tweet_or_404(tweet_id, request.user), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def served_from(request, serializer_class=None) -> tuple[services.Served, dict]:
    """Validate an action's body; returns its serving context and other fields."""
    serializer = (serializer_class or ServedSerializer)(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    data = dict(serializer.validated_data)
    served = services.Served(feed_request=data.pop("feed_request"), position=data.pop("position"))
    return served, data


class LikeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=ServedSerializer, responses={201: TweetSerializer})
    def post(self, request, tweet_id):
        served, _ = served_from(request)
        liked = services.like_create(user=request.user, tweet=tweet_or_404(tweet_id, request.user), served=served)
        return tweet_response(request, liked, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: TweetSerializer})
    def delete(self, request, tweet_id):
        return tweet_response(
            request, services.like_delete(user=request.user, tweet=tweet_or_404(tweet_id, request.user))
        )


class RetweetView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=ServedSerializer, responses={201: TweetSerializer})
    def post(self, request, tweet_id):
        """Retweet; answers with the retweet, which nests the original."""
        served, _ = served_from(request)
        retweet = services.retweet_create(user=request.user, tweet=tweet_or_404(tweet_id, request.user), served=served)
        try:
            return tweet_response(request, retweet, status.HTTP_201_CREATED)
        except Http404:  # a concurrent undo removed it already: the original, as it is now
            return tweet_response(request, retweet.retweet_of, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: TweetSerializer})
    def delete(self, request, tweet_id):
        """Undo the retweet; answers with the original."""
        return tweet_response(
            request, services.retweet_delete(user=request.user, tweet=tweet_or_404(tweet_id, request.user))
        )


class HideView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=ServedSerializer, responses={204: None})
    def post(self, request, tweet_id):
        served, _ = served_from(request)
        services.hide_create(user=request.user, tweet=tweet_or_404(tweet_id, request.user), served=served)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReportOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = Report
        fields = ["id", "tweet", "reason", "created_at"]


class ReportView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=ReportSerializer, responses={201: ReportOutSerializer})
    def post(self, request, tweet_id):
        served, data = served_from(request, ReportSerializer)
        report = services.report_create(
            user=request.user, tweet=tweet_or_404(tweet_id, request.user), served=served, **data
        )
        return Response(ReportOutSerializer(report).data, status=status.HTTP_201_CREATED)


class TweetPageView(generics.ListAPIView):
    """A paginated list of tweets, each with the viewer's state."""

    serializer_class = TweetSerializer


class RepliesView(TweetPageView):
    """The replies to a tweet, oldest first: the conversation."""

    pagination_class = OldestFirstPagination

    def get_queryset(self):
        conversation = tweet_or_404(self.kwargs["tweet_id"], self.request.user)
        return selectors.tweet_replies(viewer=self.request.user, tweet=conversation)


class UserTweetsView(TweetPageView):
    """A user's tweets, retweets and replies, newest first."""

    def get_queryset(self):
        author = person_or_404(self.request, self.kwargs["username"])
        return selectors.tweets_by(viewer=self.request.user, author=author)


SEARCH_MAX_CHARS = 100
SEARCH_TYPES = ["users", "tweets"]


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        min_length=1,
        max_length=SEARCH_MAX_CHARS,
        help_text="users: a prefix of a username (a leading @ is ignored) or of a display name, any case; "
        'tweets: words (all of them), "a phrase", -word to leave out, `or` between alternatives',
    )
    type = serializers.ChoiceField(choices=SEARCH_TYPES, default="tweets")
    cursor = serializers.CharField(required=False, max_length=1000, help_text="`next` or `previous` of a page")


class UserSearchPagination(CursorPagination):
    # The most followed first: the likeliest to be the one meant.
    ordering = ("-follower_count", "id")


class SearchResultsSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = serializers.ListField(
        child=PolymorphicProxySerializer(
            component_name="SearchResult",
            serializers=[UserProfileSerializer, TweetSerializer],
            resource_type_field_name=None,
        ),
        help_text="people (type=users, the most followed first) or tweets (type=tweets, the newest first)",
    )


class SearchView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[SearchQuerySerializer],
        responses={200: SearchResultsSerializer, 404: error_response("The cursor is not one this list gave.")},
    )
    def get(self, request):
        """Search people or tweets, a page at a time. A query that is empty
        or over 100 characters is a 400."""
        params = SearchQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query, kind = params.validated_data["q"], params.validated_data["type"]
        if kind == "users":
            paginator, serializer = UserSearchPagination(), UserProfileSerializer
            found = users_search(viewer=request.user, query=query)
        else:
            paginator, serializer = CreatedAtCursorPagination(), TweetSerializer
            found = selectors.tweets_search(viewer=request.user, query=query)
        page = paginator.paginate_queryset(found, request, view=self)
        return paginator.get_paginated_response(serializer(page, many=True).data)


class FeedQuerySerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=services.FEED_MODES, default=FeedRequest.Mode.RANKED)
    cursor = serializers.CharField(required=False, max_length=1000)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=settings.FEED_PAGE_SIZE_MAX)


class FeedView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[FeedQuerySerializer], responses=FeedSerializer)
    def get(self, request):
        """The home feed. Each page's items carry their `position` in the feed
        request; log impressions and dwell against both."""
        params = FeedQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        page = services.feed_read(viewer=request.user, **params.validated_data)
        next_url = None
        if page.next_cursor:
            query = urlencode({**request.query_params.dict(), "cursor": page.next_cursor})
            next_url = request.build_absolute_uri(f"{request.path}?{query}")
        return Response(
            {
                "feed_request": page.feed_request.pk,
                "mode": page.mode,
                "ranking": page.ranking,
                "model_version": page.feed_request.model_version,
                "experiment": page.experiment,
                "variant": page.variant,
                "caught_up": page.caught_up,
                "next": next_url,
                # FeedSerializer documents the page (the schema); feed_item_data builds its items.
                "results": [feed_item_data(item) for item in page.items],
            }
        )


class EngagementsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=EngagementBatchSerializer, responses={201: EngagementBatchLoggedSerializer})
    def post(self, request):
        """Log a batch of impressions, dwells and clicks: all or nothing, and
        safe to resend (give each event an `id`). Each user may log 3,000
        events a minute by default (ENGAGEMENT_RATE; a 429 with Retry-After
        beyond); a feed request's dwells may add up to no more than the time
        since it was served, times the cards a screen shows at once (a 400)."""
        serializer = EngagementBatchSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        batch = serializer.validated_data
        ratelimit.enforce(
            "engagements",
            str(request.user.pk),
            ratelimit.Rate.parse(settings.ENGAGEMENT_RATE),
            cost=len(batch["events"]),
            message="Too many events a minute.",
        )
        logged = services.engagements_log(user=request.user, events=batch["events"], sent_at=batch.get("sent_at"))
        return Response(
            {"accepted": len(batch["events"]), "stored": logged.stored, "duplicates": logged.duplicates},
            status=status.HTTP_201_CREATED,
        )
