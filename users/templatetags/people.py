from django import template

from users.selectors import who_to_follow

register = template.Library()

SUGGESTIONS = 5


@register.inclusion_tag("partials/who_to_follow.html", takes_context=True)
def suggestions(context, limit: int = SUGGESTIONS, title: str = "Who to follow") -> dict:
    """The "Who to follow" box, for any page's side column or empty state."""
    viewer = context["request"].user
    return {"people": who_to_follow(viewer=viewer, limit=limit), "title": title, "user": viewer}
