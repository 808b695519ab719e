from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import UserFactory
from users import selectors, services
from users.models import Follow, FollowEvent, User

pytestmark = pytest.mark.django_db


def test_user_create_stores_hashed_password_and_profile():
    user = services.user_create(username="alice", password="blue-lantern-harbor-42", display_name="Alice", bio="hi")

    user.refresh_from_db()
    assert user.password != "blue-lantern-harbor-42"
    assert user.check_password("blue-lantern-harbor-42")
    assert (user.display_name, user.bio, user.shown_name) == ("Alice", "hi", "Alice")


def test_shown_name_falls_back_to_username():
    assert UserFactory(username="bob", display_name="").shown_name == "bob"


def test_user_create_rejects_duplicate_username():
    UserFactory(username="alice")

    with pytest.raises(ValidationError) as error:
        services.user_create(username="alice", password="blue-lantern-harbor-42")

    assert "username" in error.value.message_dict
    assert User.objects.count() == 1


def test_user_create_rejects_password_like_the_username():
    with pytest.raises(ValidationError) as error:
        services.user_create(username="marmalade42", password="marmalade42")

    assert list(error.value.message_dict) == ["password"]
    assert not User.objects.exists()


def test_follow_create_is_idempotent():
    alice, bob = UserFactory.create_batch(2)

    assert services.follow_create(follower=alice, followee=bob) is True
    assert services.follow_create(follower=alice, followee=bob) is False

    assert str(Follow.objects.get()) == f"{alice.pk} -> {bob.pk}"
    # Following is one-way.
    assert not Follow.objects.filter(follower=bob).exists()


def test_follow_create_refuses_self_follow():
    alice = UserFactory()

    with pytest.raises(ValidationError):
        services.follow_create(follower=alice, followee=alice)

    assert not Follow.objects.exists()


def test_follow_delete_removes_only_that_edge_and_is_idempotent():
    alice, bob, carol = UserFactory.create_batch(3)
    services.follow_create(follower=alice, followee=bob)
    services.follow_create(follower=alice, followee=carol)
    services.follow_create(follower=bob, followee=alice)

    services.follow_delete(follower=alice, followee=bob)
    services.follow_delete(follower=alice, followee=bob)

    assert set(Follow.objects.values_list("follower", "followee")) == {(alice.pk, carol.pk), (bob.pk, alice.pk)}


def history(follower, followee) -> list[tuple[str, datetime]]:
    return list(
        FollowEvent.objects.filter(follower=follower, followee=followee)
        .order_by("created_at", "pk")
        .values_list("kind", "created_at")
    )


def test_the_follow_log_records_each_edge_made_or_removed_once():
    alice, bob = UserFactory.create_batch(2)
    t0 = datetime(2026, 3, 2, 12, tzinfo=UTC)

    services.follow_create(follower=alice, followee=bob, at=t0)
    services.follow_create(follower=alice, followee=bob, at=t0 + timedelta(hours=1))  # already following
    services.follow_delete(follower=alice, followee=bob, at=t0 + timedelta(hours=2))
    services.follow_delete(follower=alice, followee=bob, at=t0 + timedelta(hours=3))  # not following
    services.follow_delete(follower=bob, followee=alice, at=t0 + timedelta(hours=3))  # never followed
    services.follow_create(follower=alice, followee=bob, at=t0 + timedelta(hours=4))

    assert history(alice, bob) == [
        ("follow", t0),
        ("unfollow", t0 + timedelta(hours=2)),
        ("follow", t0 + timedelta(hours=4)),
    ]
    assert Follow.objects.get(follower=alice, followee=bob).created_at == t0 + timedelta(hours=4)
    assert not FollowEvent.objects.filter(follower=bob).exists()
    assert str(FollowEvent.objects.first()) == f"follow {alice.pk} -> {bob.pk}"


def test_a_refused_follow_logs_nothing():
    alice = UserFactory()

    with pytest.raises(ValidationError):
        services.follow_create(follower=alice, followee=alice)

    assert not FollowEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_backfills_one_follow_event_per_existing_edge():
    alice, bob, carol = UserFactory.create_batch(3)
    made = datetime(2025, 5, 1, 9, 30, tzinfo=UTC)
    Follow.objects.create(follower=alice, followee=bob, created_at=made)
    Follow.objects.create(follower=carol, followee=bob, created_at=made + timedelta(days=1))
    executor = MigrationExecutor(connection)
    executor.migrate([("users", "0002_followevent")])  # undoes the backfill: an empty log
    assert not FollowEvent.objects.exists()

    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert history(alice, bob) == [("follow", made)]
    assert history(carol, bob) == [("follow", made + timedelta(days=1))]
    assert FollowEvent.objects.count() == 2


def test_profiles_count_active_followers_of_each_side():
    alice, bob, carol = UserFactory.create_batch(3)
    services.follow_create(follower=bob, followee=alice)
    services.follow_create(follower=carol, followee=alice)
    services.follow_create(follower=alice, followee=bob)

    profiles = {u.username: u for u in selectors.user_profiles(viewer=bob)}

    assert (profiles[alice.username].followers_count, profiles[alice.username].following_count) == (2, 1)
    assert (profiles[carol.username].followers_count, profiles[carol.username].following_count) == (0, 1)
    assert profiles[alice.username].is_following is True
    assert profiles[carol.username].is_following is False


def test_user_create_loses_a_registration_race_with_a_field_error(monkeypatch):
    UserFactory(username="alice")
    # Both requests passed validation before either saved: the database decides.
    monkeypatch.setattr(User, "full_clean", lambda self, **kwargs: None)

    with pytest.raises(ValidationError) as error:
        services.user_create(username="alice", password="blue-lantern-harbor-42")

    assert list(error.value.message_dict) == ["username"]
    assert User.objects.count() == 1
