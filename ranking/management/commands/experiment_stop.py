from django.core.management.base import BaseCommand, CommandError

from ranking.experiments.lifecycle import ExperimentError, experiment_stop
from ranking.models import Experiment


class Command(BaseCommand):
    help = "Stop a running experiment: its users go back to the default feed; its readout stays."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *, name, **options):
        experiment = Experiment.objects.filter(name=name).first()
        if experiment is None:
            raise CommandError(f"No experiment is named {name}.")
        try:
            experiment = experiment_stop(experiment=experiment)
        except ExperimentError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Stopped {experiment.name} at {experiment.stopped_at:%Y-%m-%d %H:%M:%S %Z}.")
