from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ranking.experiments.lifecycle import ExperimentError, VariantSpec, experiment_create, experiment_start
from ranking.models import Experiment


class Command(BaseCommand):
    help = (
        "Start an experiment on the home feed: an A/B test of variants (--variant name=ranker:weight, the weight "
        "in percent of users), or team-draft interleaving of two rankers for everyone (--interleave A B). "
        "A ranker is latest (the chronological feed), active (the active model) or a model version's name."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--variant", action="append", default=[], metavar="NAME=RANKER:WEIGHT")
        parser.add_argument("--interleave", nargs=2, metavar=("RANKER_A", "RANKER_B"))
        parser.add_argument("--salt", default="", help="hashed with user ids to split them (default: the name)")
        parser.add_argument("--description", default="")

    def handle(self, *, name, variant, interleave, salt, description, **options):
        if bool(variant) == bool(interleave):
            raise CommandError("Give either --variant (twice or more) or --interleave A B.")
        try:
            if interleave:
                design, variants = Experiment.Design.INTERLEAVE, [VariantSpec(r, r, 100) for r in interleave]
            else:
                design, variants = Experiment.Design.AB, [VariantSpec.parse(text) for text in variant]
            # One transaction: a start refused leaves no draft behind.
            with transaction.atomic():
                experiment = experiment_create(
                    name=name, variants=variants, design=design, salt=salt, description=description
                )
                experiment = experiment_start(experiment=experiment)
        except ExperimentError as exc:
            raise CommandError(str(exc)) from exc
        arms = ", ".join(f"{v.name}={v.ranker}" + ("" if interleave else f" {v.weight}%") for v in variants)
        self.stdout.write(
            f"Started {experiment.get_design_display()} {experiment.name}: {arms} (salt {experiment.salt})."
        )
