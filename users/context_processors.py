"""What every page's header needs of the users app: the bell's number."""

from django.utils.functional import SimpleLazyObject

from users.selectors import notifications_unread_count


def notifications(request) -> dict:
    """`notifications_unread`: the viewer's unread notifications (groups, as
    the list shows them). Lazy: one query, on the pages that show it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"notifications_unread": SimpleLazyObject(lambda: notifications_unread_count(viewer=user))}
