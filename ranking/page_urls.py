from django.urls import path

from ranking import views

urlpatterns = [
    path("ranking/", views.ranking, name="ranking"),
    path("ranking/experiments/", views.experiments, name="experiments"),
    path("ranking/experiments/<slug:name>/", views.experiment, name="experiment"),
    path("ranking/experiments/<slug:name>/start/", views.experiment_start, name="experiment_start"),
    path("ranking/experiments/<slug:name>/stop/", views.experiment_stop, name="experiment_stop"),
    path("ranking/experiments/<slug:name>/ship/", views.experiment_ship, name="experiment_ship"),
]
