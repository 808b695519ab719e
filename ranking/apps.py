from django.apps import AppConfig


class RankingConfig(AppConfig):
    name = "ranking"

    def ready(self):
        from ranking import lookups  # noqa: F401  registers the `__any` lookup
        from ranking.feeds import follows_changed
        from users import signals

        # `users` sits below `ranking` and cannot call it: it sends a signal.
        signals.follows_changed.connect(
            lambda sender, follower_id, **kwargs: follows_changed(user_id=follower_id),
            weak=False,
            dispatch_uid="ranking.follows_changed",
        )
        # A mute, block or muted word changes what the list may hold, as a
        # follow does: the same drop and rebuild.
        signals.feed_filters_changed.connect(
            lambda sender, user_id, **kwargs: follows_changed(user_id=user_id),
            weak=False,
            dispatch_uid="ranking.feed_filters_changed",
        )
