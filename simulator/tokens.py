"""API tokens for the simulated world's people, for the load test (bin/load)."""

from rest_framework.authtoken.models import Token

from simulator.models import WorldUser


def world_tokens(*, limit: int | None = None) -> list[dict[str, str]]:
    """One API token per person of the world (the first `limit` of them, in
    the world's order), made for those who have none: [{username, token}].
    Run twice, it hands out the same tokens."""
    people = WorldUser.objects.filter(user__is_active=True).select_related("user").order_by("index")[:limit]
    users = [person.user for person in people]
    existing = dict(Token.objects.filter(user__in=users).values_list("user_id", "key"))
    # bulk_create skips Token.save(), which is what makes a key otherwise.
    made = Token.objects.bulk_create(
        [Token(user=user, key=Token.generate_key()) for user in users if user.pk not in existing]
    )
    existing.update((token.user_id, token.key) for token in made)
    return [{"username": user.username, "token": existing[user.pk]} for user in users]
