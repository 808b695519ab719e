from django.apps import AppConfig


class RankingConfig(AppConfig):
    name = "ranking"

    def ready(self):
        from ranking import lookups  # noqa: F401  registers the `__any` lookup
