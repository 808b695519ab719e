import json

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_bench_ranking_prints_its_figures(capsys):
    call_command("bench_ranking", "--runs", "3", "--train-examples", "5000")
    out = capsys.readouterr().out

    assert "feed build, 100 followees, 1000 candidates" in out
    assert "with 10x the history" in out
    assert "candidates/s per process" in out
    assert "training on 5,000 examples" in out
    assert "resident memory: web process" in out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["memory"]["feeds_worker_mb"] > figures["memory"]["web_mb"]


def test_bench_ranking_json_prints_the_headline_figures_and_nothing_else(capsys):
    call_command("bench_ranking", "--runs", "2", "--train-examples", "5000", "--json")
    figures = json.loads(capsys.readouterr().out)

    for key in ("build_p50_ms", "build_p99_ms", "build_p50_ms_10x_history", "scoring_candidates_per_s"):
        assert figures[key] > 0
    assert figures["build_p50_ratio_10x_history"] == pytest.approx(
        figures["build_p50_ms_10x_history"] / figures["build_p50_ms"]
    )
