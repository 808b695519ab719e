from django.urls import path, re_path

import config.converters  # noqa: F401  (registers <username:...>)
from feed import views

urlpatterns = [
    path("", views.home, name="home"),
    path("following/", views.following, name="following"),
    path("feed/newer/", views.feed_newer, name="feed-newer"),
    path("compose/", views.compose, name="compose"),
    path("t/<int:tweet_id>/", views.tweet_detail, name="tweet"),
    path("u/<username:username>/", views.profile, name="profile"),
    path("search/", views.search, name="search"),
    re_path(r"^hashtag/(?P<tag>\w+)/$", views.hashtag, name="hashtag"),
]
