from django.contrib.auth import views as auth_views
from django.urls import path

import config.converters  # noqa: F401  (registers <username:...>)
from users import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("u/<username:username>/relation/", views.relation, name="user-relation"),
    path("settings/muted/", views.muted_settings, name="muted-settings"),
    path("notifications/", views.notifications, name="notifications"),
    path("u/<username:username>/followers/", views.followers, name="user-followers"),
    path("u/<username:username>/following/", views.following, name="user-following"),
    path("settings/", views.settings_page, name="settings"),
    path("avatars/default/<username:username>.svg", views.avatar_default, name="avatar-default"),
]
