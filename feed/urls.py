from django.urls import path

import config.converters  # noqa: F401  (registers <username:...>)
from feed import api

urlpatterns = [
    path("tweets/", api.TweetCreateView.as_view(), name="api-tweets"),
    path("tweets/<int:tweet_id>/", api.TweetDetailView.as_view(), name="api-tweet"),
    path("tweets/<int:tweet_id>/like/", api.LikeView.as_view(), name="api-like"),
    path("tweets/<int:tweet_id>/retweet/", api.RetweetView.as_view(), name="api-retweet"),
    path("tweets/<int:tweet_id>/replies/", api.RepliesView.as_view(), name="api-replies"),
    path("tweets/<int:tweet_id>/hide/", api.HideView.as_view(), name="api-hide"),
    path("tweets/<int:tweet_id>/report/", api.ReportView.as_view(), name="api-report"),
    path("users/<username:username>/tweets/", api.UserTweetsView.as_view(), name="api-user-tweets"),
    path("feed/", api.FeedView.as_view(), name="api-feed"),
    path("search/", api.SearchView.as_view(), name="api-search"),
    path("engagements/", api.EngagementsView.as_view(), name="api-engagements"),
]
