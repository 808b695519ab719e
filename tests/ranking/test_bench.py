import json

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_bench_ranking_prints_its_figures(capsys):
    call_command("bench_ranking", "--runs", "3", "--train-examples", "5000")
    out = capsys.readouterr().out

    assert "feed build, 100 followees, 1000 candidates" in out
    assert "candidates/s per process" in out
    assert "training on 5,000 examples" in out
    assert "resident memory: web process" in out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["memory"]["feeds_worker_mb"] > figures["memory"]["web_mb"]


def test_bench_fanout_prints_its_figures(capsys, settings):
    settings.FANOUT_CHUNK = 50
    call_command("bench_fanout", "--followers", "300", "--log-requests", "2", "--runs", "1")
    out = capsys.readouterr().out

    figures = json.loads(out.strip().splitlines()[-1])
    fanout = figures["fanout"]
    assert "fan-out, 300 followers" in out and "the whole list" in out
    assert 0 < fanout["active"] < 300
    assert fanout["chunks"] == fanout["tasks"] == -(-fanout["active"] // 50)
    assert fanout["log_scan_same_followers"]
    assert figures["stored_list"]["items"] == settings.RANKED_FEED_MAX_ITEMS
