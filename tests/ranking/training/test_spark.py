"""The cluster path: the builder's steps transpiled to Spark SQL, run on
PySpark `local[2]`, give the DuckDB builder's examples."""

from datetime import UTC, datetime

import pytest

from ranking.training.builder import duckdb_connect, example_window, export_log, read_examples, run_duckdb
from ranking.training.spark import local_spark, run_spark, to_spark_sql
from simulator.simulation import simulate
from tests.ranking.parity import assert_same_examples

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def spark():
    session = local_spark(cores=2)
    yield session
    session.stop()


def test_spark_local_gives_the_duckdb_examples(spark, tmp_path):
    simulate(users=25, days=2, seed=6, mode="latest", start=T0)
    export_log(example_window(), tmp_path / "log")
    con = duckdb_connect(tmp_path, memory="256MB", threads=2)
    n_duckdb = run_duckdb(con, tmp_path / "log", tmp_path / "duckdb")
    con.close()

    n_spark = run_spark(spark, tmp_path / "log", tmp_path / "spark")

    assert n_spark == n_duckdb > 100
    built = read_examples(tmp_path / "spark")
    assert built.features.column("followees_engaged").max() > 0
    assert built.features.column("text_affinity").max() > 0
    assert_same_examples(built, read_examples(tmp_path / "duckdb"))


def test_the_duckdb_dialect_is_transpiled():
    assert to_spark_sql("SELECT a FROM t ASOF JOIN u ON t.k = u.k AND t.t > u.t") != ""
    assert "NULLS LAST" in to_spark_sql("SELECT SUM(x) OVER (PARTITION BY k ORDER BY ms) FROM t")
