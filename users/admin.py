from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from config.admin import ReadOnlyAdmin
from users.models import Follow, FollowEvent, User


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
