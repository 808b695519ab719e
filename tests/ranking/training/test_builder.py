"""The out-of-core example builder (DuckDB): its shards, its limits. Its
parity with the reference evaluator and serving is tested in
tests/ranking/test_features.py and test_skew.py."""

import json
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from ranking.spec import HEADS, NUMERIC_FEATURES
from ranking.training import builder
from ranking.training.builder import build_examples, built_examples, example_window, read_examples
from ranking.training.examples import training_examples
from simulator.simulation import simulate
from tests.ranking.parity import assert_same_examples
from users.models import Follow
from users.services import follow_delete

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)


def test_an_empty_log_builds_no_examples():
    assert example_window() is None
    assert len(built_examples()) == 0


def test_the_examples_are_written_in_shards_within_the_engines_limits(tmp_path, monkeypatch):
    simulate(users=30, days=1, seed=2, mode="latest", start=T0)
    monkeypatch.setattr(builder, "SHARD_ROWS", 100)  # small shards, to have several

    report = build_examples(example_window(), tmp_path, memory="256MB", threads=1)

    files = builder.shard_files(tmp_path / "shards")
    assert report.shards == len(files) > 1
    assert report.examples == sum(pq.read_metadata(f).num_rows for f in files)
    assert set(pq.read_schema(files[0]).names) >= {*NUMERIC_FEATURES, *(f"label_{h}" for h in HEADS), "text"}
    assert report.exported["events"] > report.examples
    assert_same_examples(read_examples(tmp_path / "shards"), training_examples())
    assert not (tmp_path / "build.duckdb").exists()


def test_the_command_builds_the_shards_or_says_why_not(tmp_path, capsys):
    with pytest.raises(CommandError, match="nothing to build"):
        call_command("build_examples", "--directory", str(tmp_path))
    simulate(users=20, days=1, seed=3, mode="latest", start=T0)

    call_command("build_examples", "--directory", str(tmp_path), "--json", "--memory", "256MB", "--threads", "1")

    report = json.loads(capsys.readouterr().out)
    assert report["examples"] == len(training_examples()) > 0
    assert report["engine"].startswith("duckdb")
    assert report["peak_rss_mb"] > 50  # this process's, with the engine in it
    assert 0 <= report["engine_peak_mb"] < report["peak_rss_mb"]  # the engine's own share of it
    assert list(report["step_s"]) == [name for name, _ in builder.build_steps()]
    assert len(read_examples(tmp_path / "shards")) == report["examples"]


def test_the_export_through_the_orm_gives_the_rows_copy_gives(tmp_path):
    """The embedded SQLite has no COPY: its export takes the ORM path, which
    must write the very rows PostgreSQL's COPY does (times rounded alike,
    impressions outside the window not shown, unfollows as -1)."""
    simulate(users=30, days=2, seed=4, mode="latest", start=T0)
    edge = Follow.objects.first()
    follow_delete(follower=edge.follower, followee=edge.followee, at=T0 + timedelta(hours=30, microseconds=999))
    whole = example_window()
    window = builder.Window(whole.since + (whole.until - whole.since) / 3, whole.until)

    by_copy = builder.export_log(window, tmp_path / "copy", copy=True)
    by_orm = builder.export_log(window, tmp_path / "orm", copy=False)

    assert by_orm == by_copy
    for name in builder.INPUTS:
        copied, read = (pq.read_table(tmp_path / way / f"{name}.parquet") for way in ("copy", "orm"))
        order = [(column, "ascending") for column in copied.column_names]
        assert read.sort_by(order).equals(copied.sort_by(order)), name
    events = pq.read_table(tmp_path / "orm" / "events.parquet").to_pydict()
    assert 0 < sum(events["shown"]) < events["kind"].count("impression")
    assert -1 in pq.read_table(tmp_path / "orm" / "follows.parquet").column("delta").to_pylist()


def test_the_engines_own_memory_is_sampled_while_it_works(tmp_path):
    con = builder.duckdb_connect(tmp_path, memory="512MB", threads=1)
    try:
        with builder.engine_memory_peak(con) as peak:
            # A hash aggregate of a few million keys, long enough for several samples.
            con.execute(
                "CREATE TABLE counts AS SELECT i % 3000000 AS k, COUNT(*) AS n FROM range(12000000) r(i) GROUP BY k"
            )
    finally:
        con.close()

    assert 10 < peak["mb"] <= 512
