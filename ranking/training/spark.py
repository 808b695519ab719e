"""The example builder on Spark: the same steps as DuckDB runs
(ranking.training.builder.build_steps, in their standard-SQL form), each
transpiled from DuckDB's dialect to Spark SQL by sqlglot, over the same
Parquet export. For a log beyond one machine: point the session at a
cluster and the inputs at shared storage; the tests run it on `local[2]`.

Needs Java (17 here) and pyspark (requirements-spark.txt).
"""

import logging
from pathlib import Path

import sqlglot

from ranking.training.builder import INPUTS, build_steps, n_shards

SPARK_SHUFFLE_PARTITIONS = 4  # small worlds in tests; a cluster sets its own


def to_spark_sql(sql: str) -> str:
    """One step's SELECT, from DuckDB's dialect to Spark's."""
    return sqlglot.transpile(sql, read="duckdb", write="spark")[0]


def local_spark(*, cores: int = 2, memory: str = "1g"):
    """A Spark session on this machine (`local[cores]`), times in UTC."""
    from pyspark.sql import SparkSession

    # py4j logs each connection's close at INFO, from finalizers that can run
    # at interpreter exit after logging's streams are closed (a traceback).
    logging.getLogger("py4j").setLevel(logging.WARNING)
    return (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("ranked-feed-examples")
        .config("spark.driver.memory", memory)
        .config("spark.sql.shuffle.partitions", SPARK_SHUFFLE_PARTITIONS)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )


def run_spark(spark, inputs: Path, shards: Path, *, dwell_long_ms: int | None = None) -> int:
    """Run the builder's steps on `spark` over the Parquet `inputs`, write
    the examples as Parquet shards in `shards`; returns how many examples."""
    for name in INPUTS:
        spark.read.parquet(str(inputs / f"{name}.parquet")).createOrReplaceTempView(name)
    steps = build_steps(dwell_long_ms=dwell_long_ms, asof_join=False)
    for name, sql in steps[:-1]:
        # Kept (memory, then disk) as DuckDB keeps its tables: later steps read them several times.
        table = spark.sql(to_spark_sql(sql)).persist()
        table.createOrReplaceTempView(name)
    examples = spark.sql(to_spark_sql(steps[-1][1]))
    n = spark.table("imp").count()
    examples.repartition(n_shards(n)).write.mode("overwrite").parquet(str(shards))
    return n
