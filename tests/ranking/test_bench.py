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
