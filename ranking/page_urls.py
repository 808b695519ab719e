from django.urls import path

from ranking import views

urlpatterns = [
    path("ranking/", views.ranking, name="ranking"),
]
