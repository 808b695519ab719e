import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ranking.training.builder import build_examples, example_window


class Command(BaseCommand):
    help = "Build the labelled examples of the log's settled impressions into Parquet shards (DuckDB, out of core)."

    def add_arguments(self, parser):
        parser.add_argument("--directory", required=True, help="where the export and the shards (DIR/shards) go")
        parser.add_argument("--memory", default=None, help="DuckDB's memory limit, e.g. 2GB")
        parser.add_argument("--threads", type=int, default=None)
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *, directory, memory, threads, as_json, **options):
        window = example_window()
        if window is None:
            raise CommandError("No settled impressions in the engagement log: nothing to build.")
        report = build_examples(window, Path(directory), memory=memory, threads=threads)
        if as_json:
            self.stdout.write(json.dumps(report.as_dict()))
            return
        self.stdout.write(
            f"{report.examples:,} examples in {report.shards} shards under {directory}/shards: export "
            f"{report.export_s:.1f} s, build {report.build_s:.1f} s ({report.engine})\n"
            f"steps: {', '.join(f'{name} {seconds:.1f} s' for name, seconds in report.step_s.items())}"
        )
