from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    """The synthetic world: its tables, the simulator that lives in it, the
    ranker comparison and the demo seeding. Nothing imports this app."""

    name = "simulator"
