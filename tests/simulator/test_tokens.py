import json
import stat
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from simulator.models import WorldUser
from simulator.simulation import world_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return world_create(seed=4, n_users=12, start=datetime(2026, 3, 2, tzinfo=UTC))


def test_world_tokens_gives_each_person_of_the_world_one_working_token(world, api, tmp_path, capsys):
    outsider = UserFactory()
    out = tmp_path / "tokens.json"

    call_command("world_tokens", "--out", str(out))
    tokens = json.loads(out.read_text())

    people = WorldUser.objects.order_by("index").values_list("user__username", flat=True)
    assert [entry["username"] for entry in tokens] == list(people)
    assert outsider.username not in {entry["username"] for entry in tokens}
    assert Token.objects.count() == 12
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    api.credentials(HTTP_AUTHORIZATION=f"Token {tokens[3]['token']}")
    assert api.get("/api/feed/", {"mode": "latest"}).status_code == 200


def test_world_tokens_run_twice_hands_out_the_same_tokens(world, capsys):
    call_command("world_tokens", "--limit", "5")
    first = json.loads(capsys.readouterr().out)
    call_command("world_tokens")
    second = json.loads(capsys.readouterr().out)

    assert len(first) == 5 and len(second) == 12
    assert second[:5] == first
    assert Token.objects.count() == 12


def test_world_tokens_refuses_a_database_without_a_world():
    with pytest.raises(CommandError, match="No simulated world"):
        call_command("world_tokens")
    with pytest.raises(CommandError, match="at least 1"):
        call_command("world_tokens", "--limit", "0")
