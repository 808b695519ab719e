"""What the follow graph tells the apps above it (which `users` must not import).

`follows_changed` is sent once a follow or unfollow is committed, with
`follower_id`: the ranking app listens, since that person's ranked list no
longer holds who they follow (ranking.apps)."""

from django.dispatch import Signal

follows_changed = Signal()

# Sent with `user_id` when what that person filters out of their feeds
# changed (a mute, a block, a muted word): their stored ranked list was
# built without it, and `ranking` drops it for a new one.
feed_filters_changed = Signal()
