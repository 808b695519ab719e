import json

import pytest
from django.core.management import call_command
from django.db import connection

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_bench_ranking_prints_its_figures(capsys):
    call_command("bench_ranking", "--runs", "3", "--train-examples", "5000")
    out = capsys.readouterr().out

    assert "feed build, 100 followees, 1000 candidates" in out
    assert "with 10x the history" in out
    assert "CPU per build (mean): feeds worker" in out
    assert "candidates/s per process" in out
    assert "training on 5,000 examples" in out
    assert "resident memory: web process" in out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["memory"]["feeds_worker_mb"] > figures["memory"]["web_mb"]


def test_bench_ranking_profile_prints_where_a_build_spends_its_time(capsys):
    call_command("bench_ranking", "--runs", "2", "--profile")
    out = capsys.readouterr().out

    assert "Ordered by: internal time" in out and "Ordered by: cumulative time" in out
    assert "feed_rank" in out


def test_bench_ranking_explain_prints_each_statement_of_a_build_on_both_worlds(capsys):
    call_command("bench_ranking", "--explain")
    out = capsys.readouterr().out

    for world in ("normal", "10x_history"):
        assert f"{world}: plan ms, run ms, buffer hits, statement" in out
        assert f"the slowest statement's plan ({world}):" in out
    assert out.count("WITH recent AS") == 2  # the candidates statement, once a world
    assert "Execution Time" in out


def test_bench_ranking_json_prints_the_headline_figures_and_nothing_else(capsys):
    call_command("bench_ranking", "--runs", "2", "--train-examples", "5000", "--json")
    figures = json.loads(capsys.readouterr().out)

    for key in ("build_p50_ms", "build_p99_ms", "build_p50_ms_10x_history", "scoring_candidates_per_s"):
        assert figures[key] > 0
    assert figures["build_cpu_ms_worker"] > 0 and figures["build_cpu_ms_postgres"] >= 0
    assert figures["build_p50_ratio_10x_history"] == pytest.approx(
        figures["build_p50_ms_10x_history"] / figures["build_p50_ms"]
    )


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


@pytest.mark.django_db(transaction=True)
def test_bench_training_prints_the_builds_figures_at_two_sizes_and_on_a_follow_graph(capsys, monkeypatch):
    # Each build runs in a child `manage.py build_examples`: it must read this test's database.
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    monkeypatch.setenv("DATABASE_URL", url)

    call_command("bench_training", "--sizes", "20000", "40000", "--follow-users", "1000", "--followees", "20", "--json")
    figures = json.loads(capsys.readouterr().out)

    small, large = figures["runs"]
    # About the sizes asked for: impressions are drawn from the expected reaction rates.
    assert small["events"] == pytest.approx(20_000, rel=0.05) and large["events"] == pytest.approx(40_000, rel=0.05)
    assert 0 < small["examples"] < large["examples"]
    for run in (small, large):
        assert run["build_s"] > 0 and run["train_s"] > 0 and run["train_epochs"] == 1
        assert run["peak_rss_mb"] > run["engine_peak_mb"] > 0
    assert figures["peak_rss_growth"] == pytest.approx(large["peak_rss_mb"] / small["peak_rss_mb"], abs=0.01)
    assert figures["follow_edges_built"] == figures["follow_graph"]["follow_edges"] > 15_000
