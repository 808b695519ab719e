import pytest

from tests.factories import UserFactory, follow
from users.selectors import profiles_in_order, who_to_follow

pytestmark = pytest.mark.django_db


def usernames(users) -> list[str]:
    return [user.username for user in users]


def test_who_to_follow_suggests_whom_my_followees_follow_most(user, django_assert_num_queries):
    bob, carol, dave, erin, frank = (UserFactory(username=name) for name in ("bob", "carol", "dave", "erin", "frank"))
    follow(user, bob, carol)
    follow(bob, dave, erin, user)
    follow(carol, erin, bob)
    follow(UserFactory(), frank)  # frank: followed, but by no one I follow

    with django_assert_num_queries(2):
        suggested = who_to_follow(viewer=user, limit=2)

    assert usernames(suggested) == ["erin", "dave"]  # erin by two followees; never me, nor bob whom I follow
    assert [(p.followers_count, p.is_following) for p in suggested] == [(2, False), (1, False)]


def test_who_to_follow_fills_up_with_popular_accounts(user, django_assert_num_queries):
    popular, known = UserFactory(username="popular"), UserFactory(username="known")
    follow(UserFactory(), popular)
    follow(UserFactory(), popular)
    follow(user, known)
    inactive = UserFactory(username="gone", is_active=False)
    follow(UserFactory(), inactive)
    follow(UserFactory(), inactive)
    follow(UserFactory(), inactive)

    with django_assert_num_queries(3):
        suggested = who_to_follow(viewer=user, limit=3)

    assert usernames(suggested)[0] == "popular"
    assert not {"known", "gone", user.username} & set(usernames(suggested))
    assert len(suggested) == 3


def test_profiles_in_order_keeps_the_order_and_skips_the_missing(user):
    first, second = UserFactory(), UserFactory()

    assert profiles_in_order(viewer=user, user_ids=[second.pk, 0, first.pk]) == [second, first]
