from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from config.admin import ReadOnlyAdmin
from users.models import Block, Follow, FollowEvent, Mute, MutedWord, Notification, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "display_name", "email", "is_staff", "is_active", "date_joined"]
    search_fields = ["username", "display_name", "email"]
    fieldsets = [*DjangoUserAdmin.fieldsets, ("Profile", {"fields": ["display_name", "bio"]})]


# Follows change only through users.services, which keeps the follow log
# (FollowEvent) beside the graph.
@admin.register(Follow)
class FollowAdmin(ReadOnlyAdmin):
    list_display = ["follower", "followee", "created_at"]
    search_fields = ["follower__username", "followee__username"]
    list_filter = ["created_at"]
    raw_id_fields = ["follower", "followee"]
    list_select_related = ["follower", "followee"]


@admin.register(FollowEvent)
class FollowEventAdmin(ReadOnlyAdmin):
    list_display = ["follower", "kind", "followee", "created_at"]
    search_fields = ["follower__username", "followee__username"]
    list_filter = ["kind", "created_at"]
    list_select_related = ["follower", "followee"]


# Mutes, blocks and muted words are their owners' own: read-only here (a
# moderator looking into harassment), changed only by the person, through
# users.services, which also drops their stored feeds.
@admin.register(Mute)
class MuteAdmin(ReadOnlyAdmin):
    list_display = ["user", "muted", "created_at"]
    search_fields = ["user__username", "muted__username"]
    list_select_related = ["user", "muted"]


@admin.register(Block)
class BlockAdmin(ReadOnlyAdmin):
    list_display = ["user", "blocked", "created_at"]
    search_fields = ["user__username", "blocked__username"]
    list_select_related = ["user", "blocked"]


@admin.register(MutedWord)
class MutedWordAdmin(ReadOnlyAdmin):
    list_display = ["user", "word", "created_at"]
    search_fields = ["user__username", "word"]
    list_select_related = ["user"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["recipient", "kind", "actor", "tweet", "created_at", "read_at"]
    search_fields = ["recipient__username", "actor__username"]
    list_filter = ["kind", "created_at"]
    list_select_related = ["recipient", "actor", "tweet"]
    raw_id_fields = ["recipient", "actor", "tweet"]
