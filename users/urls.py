from django.urls import path

import config.converters  # noqa: F401  (registers <username:...>)
from users import api

urlpatterns = [
    path("auth/register/", api.RegisterView.as_view(), name="api-register"),
    path("auth/token/", api.TokenView.as_view(), name="api-token"),
    # Before users/<username>/: "me" is a reserved username (users.models).
    path("users/me/", api.MeView.as_view(), name="api-me"),
    path("users/me/avatar/", api.AvatarView.as_view(), name="api-avatar"),
    path("users/<username:username>/", api.UserDetailView.as_view(), name="api-user"),
    path("users/<username:username>/follow/", api.FollowView.as_view(), name="api-follow"),
    path("users/<username:username>/mute/", api.MuteView.as_view(), name="api-mute"),
    path("users/<username:username>/block/", api.BlockView.as_view(), name="api-block"),
    path("mutes/words/", api.MutedWordsView.as_view(), name="api-muted-words"),
    path("mutes/words/<int:muted_word_id>/", api.MutedWordView.as_view(), name="api-muted-word"),
    path("notifications/", api.NotificationsView.as_view(), name="api-notifications"),
    path("notifications/read/", api.NotificationsReadView.as_view(), name="api-notifications-read"),
    path("users/<username:username>/followers/", api.FollowersView.as_view(), name="api-followers"),
    path("users/<username:username>/following/", api.FollowingView.as_view(), name="api-following"),
]
