from django.urls import path

from users import api

urlpatterns = [
    path("auth/register/", api.RegisterView.as_view(), name="api-register"),
    path("auth/token/", api.TokenView.as_view(), name="api-token"),
    path("users/<str:username>/", api.UserDetailView.as_view(), name="api-user"),
    path("users/<str:username>/follow/", api.FollowView.as_view(), name="api-follow"),
    path("users/<str:username>/followers/", api.FollowersView.as_view(), name="api-followers"),
    path("users/<str:username>/following/", api.FollowingView.as_view(), name="api-following"),
]
