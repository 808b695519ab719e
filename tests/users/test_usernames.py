"""Usernames: letters, digits and underscore, 1 to 30 characters, unique
without regard to case (a database constraint), looked up in any case; the
migration that renames the existing names that break the rules."""

import importlib
import threading

import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import RequestFactory

from tests.factories import PASSWORD, UserFactory
from users import services
from users.admin import UserAdmin
from users.models import User, UserQuerySet

STRONG_PASSWORD = "blue-lantern-harbor-42"
fix = importlib.import_module("users.migrations.0007_usernames_fix")


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["a", "Alice_99", "_", "x" * 30, "ABC123"])
def test_user_create_takes_letters_digits_underscore_up_to_30(name):
    assert services.user_create(username=name, password=STRONG_PASSWORD).username == name


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    ["", "x" * 31, "a.b", "a@b", "a-b", "a+b", "a b", "émile", "a\n", "ﬀ", "\N{KELVIN SIGN}", "a\x00"],
)
def test_user_create_refuses_other_names_and_stores_nothing(name):
    with pytest.raises(ValidationError) as error:
        services.user_create(username=name, password=STRONG_PASSWORD)

    assert list(error.value.message_dict) == ["username"]
    assert not User.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("taken", ["DEMO", "Demo", "demo"])
def test_user_create_refuses_a_name_taken_in_another_case(taken):
    UserFactory(username=taken)

    with pytest.raises(ValidationError) as error:
        services.user_create(username="demo", password=STRONG_PASSWORD)

    assert error.value.message_dict == {"username": ["A user with that username already exists."]}
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_the_database_refuses_a_name_taken_in_another_case():
    UserFactory(username="alice")

    with pytest.raises(IntegrityError, match="username_unique_any_case"), transaction.atomic():
        User.objects.create(username="ALICE")


@pytest.mark.django_db
def test_the_database_refuses_a_name_with_other_characters():
    with pytest.raises(IntegrityError, match="username_chars"), transaction.atomic():
        User.objects.bulk_create([User(username="bench-viewer-1")])


@pytest.mark.django_db(transaction=True)
def test_concurrent_sign_ups_in_two_cases_make_one_account(monkeypatch):
    """Both sign-ups pass the service's check before either inserts (a
    barrier holds each after its check): the unique index on Lower(username)
    lets one in, and the other gets the same username error, not a 500."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    named = UserQuerySet.named

    def named_then_wait(self, username):
        # The check's answer as of now, before the barrier: nobody yet.
        seen = named(self, username) if named(self, username).exists() else self.none()
        barrier.wait(timeout=10)
        return seen

    def sign_up(name):
        try:
            services.user_create(username=name, password=STRONG_PASSWORD)
            outcomes.append("created")
        except ValidationError as exc:
            outcomes.append(exc.message_dict["username"][0])
        finally:
            connections.close_all()

    monkeypatch.setattr(UserQuerySet, "named", named_then_wait)
    threads = [threading.Thread(target=sign_up, args=(name,)) for name in ("bob", "BOB")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    monkeypatch.undo()

    assert sorted(outcomes) == ["A user with that username already exists.", "created"]
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_lookups_and_log_in_ignore_case():
    alice = UserFactory(username="Alice")

    assert User.objects.named("aLiCe").get() == alice
    assert authenticate(RequestFactory().post("/login/"), username="ALICE", password=PASSWORD) == alice
    assert authenticate(RequestFactory().post("/login/"), username="Al.ice", password=PASSWORD) is None


@pytest.mark.django_db
def test_a_name_that_cannot_be_is_looked_up_without_a_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert list(User.objects.named("a@b.c")) == []


@pytest.mark.django_db
def test_the_admin_refuses_a_name_taken_in_another_case(admin_client):
    UserFactory(username="carol")

    response = admin_client.post(
        "/admin/users/user/add/",
        {"username": "CAROL", "password1": STRONG_PASSWORD, "password2": STRONG_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert User.objects.filter(username="CAROL").count() == 0
    assert UserAdmin.search_fields[0] == "username"


@pytest.mark.django_db
def test_the_admin_refuses_a_name_with_a_dot(admin_client):
    response = admin_client.post(
        "/admin/users/user/add/",
        {"username": "car.ol", "password1": STRONG_PASSWORD, "password2": STRONG_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 200
    assert "Letters, digits and underscore only" in response.content.decode()
    assert not User.objects.filter(username="car.ol").exists()


def test_renames_keep_the_oldest_of_a_case_clash_and_are_deterministic():
    users = [(3, "DEMO"), (1, "demo"), (2, "bob_2"), (4, "Bob"), (5, "bob"), (6, "a.b@c"), (7, "x" * 40), (8, "..")]

    renames = fix.renames_planned(users)

    assert renames == [
        (3, "DEMO", "DEMO_2"),
        (5, "bob", "bob_3"),  # bob_2 is someone's already
        (6, "a.b@c", "a_b_c"),
        (7, "x" * 40, "x" * 30),
        (8, "..", "__"),
    ]
    assert fix.renames_planned(list(reversed(users))) == renames


def test_a_reserved_name_is_renamed():
    assert fix.renames_planned([(1, "ME"), (2, "meg")]) == [(1, "ME", "ME_2")]


def test_renames_cut_a_suffixed_name_to_30():
    assert fix.renames_planned([(1, "y" * 30), (2, "Y" * 35)]) == [(2, "Y" * 35, "Y" * 28 + "_2")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_renames_and_reports_what_it_did(capsys):
    executor = MigrationExecutor(connection)
    before = [("users", "0006_last_feed_at")]
    executor.migrate(before)
    try:
        state = executor.loader.project_state(before)
        OldUser = state.apps.get_model("users", "User")
        for name in ["demo", "DEMO", "a.b@c.d", "fine_name"]:
            OldUser.objects.create(username=name, password="!")
        capsys.readouterr()

        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes("users"))
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    report = capsys.readouterr().out
    assert "renamed 2 username(s)" in report
    assert "'DEMO' -> 'DEMO_2'" in report
    assert "'a.b@c.d' -> 'a_b_c_d'" in report
    assert sorted(User.objects.values_list("username", flat=True)) == ["DEMO_2", "a_b_c_d", "demo", "fine_name"]


@pytest.mark.django_db
def test_the_admin_refuses_renaming_to_a_name_taken_in_another_case(admin_client):
    UserFactory(username="dave")
    erin = UserFactory(username="erin")

    response = admin_client.post(
        f"/admin/users/user/{erin.pk}/change/",
        {"username": "DAVE", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00", "is_active": "on"},
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    erin.refresh_from_db()
    assert erin.username == "erin"
