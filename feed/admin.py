from django.contrib import admin, messages
from django.db.models import Count, Q

from config.admin import ReadOnlyAdmin
from feed import services
from feed.models import Engagement, FeedRequest, Hide, Like, Report, Tweet


@admin.register(Tweet)
class TweetAdmin(admin.ModelAdmin):
    list_display = ["id", "author", "short_text", "created_at", "like_count", "reply_count", "retweet_count"]
    search_fields = ["text", "author__username"]
    list_filter = [("deleted_at", admin.EmptyFieldListFilter), "created_at"]
    raw_id_fields = ["author", "reply_to", "retweet_of"]
    list_select_related = ["author"]
    readonly_fields = ["like_count", "reply_count", "retweet_count", "deleted_at"]
    actions = ["remove_tweets"]

    @admin.display(description="text")
    def short_text(self, tweet):
        return tweet.text[:60] or f"(retweet of {tweet.retweet_of_id})"

    # Tweets are removed (soft-deleted) so the event log keeps its rows.
    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Remove selected tweets")
    def remove_tweets(self, request, queryset):
        for tweet in queryset.filter(deleted_at__isnull=True):
            services.tweet_remove(tweet=tweet)
        self.message_user(request, "Tweets removed.", messages.SUCCESS)


class UnresolvedFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("resolved", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved=False)
        if self.value() == "resolved":
            return queryset.filter(resolved=True)
        return queryset


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """The moderation queue: open reports first, with how often each tweet was reported."""

    list_display = ["tweet_text", "tweet_author", "reason", "user", "reports_on_tweet", "created_at", "resolved"]
    list_filter = [UnresolvedFilter, "reason", "created_at"]
    search_fields = ["tweet__text", "tweet__author__username", "user__username"]
    raw_id_fields = ["user", "tweet"]
    ordering = ["resolved", "-created_at"]
    actions = ["resolve", "remove_tweet_and_resolve"]

    def get_queryset(self, request):
        open_reports = Count("tweet__reports", filter=Q(tweet__reports__resolved=False))
        return super().get_queryset(request).select_related("user", "tweet__author").annotate(open_reports=open_reports)

    @admin.display(description="tweet")
    def tweet_text(self, report):
        removed = " [removed]" if report.tweet.deleted_at else ""
        return f"{report.tweet.text[:80]}{removed}"

    @admin.display(description="author")
    def tweet_author(self, report):
        return report.tweet.author

    @admin.display(description="open reports on tweet", ordering="open_reports")
    def reports_on_tweet(self, report):
        return report.open_reports

    @admin.action(description="Resolve: keep the tweet")
    def resolve(self, request, queryset):
        count = services.reports_resolve(reports=queryset)
        self.message_user(request, f"{count} report(s) resolved.", messages.SUCCESS)

    @admin.action(description="Remove the reported tweet and resolve all its reports")
    def remove_tweet_and_resolve(self, request, queryset):
        tweets = Tweet.objects.filter(pk__in=queryset.values("tweet"))
        for tweet in tweets.filter(deleted_at__isnull=True):
            services.tweet_remove(tweet=tweet)
        count = services.reports_resolve(reports=Report.objects.filter(tweet__in=tweets))
        removed = tweets.count()
        self.message_user(request, f"Removed {removed} tweet(s), resolved {count} report(s).", messages.SUCCESS)


@admin.register(Like, Hide)
class UserTweetStateAdmin(admin.ModelAdmin):
    list_display = ["user", "tweet", "created_at"]
    search_fields = ["user__username"]
    list_filter = ["created_at"]
    raw_id_fields = ["user", "tweet"]
    list_select_related = ["user"]


@admin.register(Engagement)
class EngagementAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "user", "tweet_id", "dwell_ms", "position", "model_version", "variant"]
    list_filter = ["kind", "variant", "model_version", "created_at"]
    search_fields = ["user__username"]
    list_select_related = ["user"]
    show_full_result_count = False


@admin.register(FeedRequest)
class FeedRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "mode", "model_version", "variant", "created_at"]
    list_filter = ["mode", "variant", "model_version", "created_at"]
    search_fields = ["user__username"]
    list_select_related = ["user"]
    show_full_result_count = False
