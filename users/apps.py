from django.apps import AppConfig
from django.core import checks


class UsersConfig(AppConfig):
    name = "users"

    def ready(self):
        from config.ratelimit import rates_check

        # The rates of every limit (the log-in ones are this app's), checked
        # by `check` and `migrate` before the app serves.
        checks.register(rates_check, checks.Tags.security)
