"""Experiments' lives: created as drafts, started (at most one runs at a
time), stopped, and shipped: the winning variant's model version activated
and the experiment stopped. Every refusal is an ExperimentError with a
one-line message, raised before anything is written."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from ranking import registry
from ranking.experiments.assignment import LATEST, running_experiment_forget
from ranking.models import Experiment, ModelVersion, Variant
from ranking.spec import FEATURE_SPEC_VERSION

# The rankers a variant may name besides a model version.
ACTIVE = "active"  # whichever model version is active when the feed is built
SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")

Status = Experiment.Status


class ExperimentError(Exception):
    pass


@dataclass(frozen=True)
class VariantSpec:
    name: str
    ranker: str
    weight: int

    @classmethod
    def parse(cls, text: str) -> "VariantSpec":
        """`name=ranker:weight`, as the experiment_start command takes it."""
        match = re.fullmatch(r"([^=]+)=([^:]+):(-?\d+)", text.strip())
        if match is None:
            raise ExperimentError(f"Variant {text!r}: write it as name=ranker:weight, e.g. control=latest:50.")
        name, ranker, weight = match.groups()
        return cls(name, ranker, int(weight))


def ranker_check(ranker: str, *, extra_rankers: Sequence[str] = ()) -> None:
    """Refuse a ranker no feed could be built with."""
    if ranker in (LATEST, ACTIVE, *extra_rankers):
        return
    version = ModelVersion.objects.filter(name=ranker).values_list("status", "feature_spec_version").first()
    if version is None:
        raise ExperimentError(f"Unknown ranker {ranker!r}: use latest, active or a model version's name.")
    status, spec = version
    if status == ModelVersion.Status.RETIRED:
        raise ExperimentError(f"Model version {ranker} is retired: it no longer serves.")
    if spec != FEATURE_SPEC_VERSION:
        raise ExperimentError(
            f"Model version {ranker} was trained on feature spec {spec}; the features served now are spec "
            f"{FEATURE_SPEC_VERSION}."
        )


def variants_check(*, design: str, variants: Sequence[VariantSpec], extra_rankers: Sequence[str] = ()) -> None:
    """Refuse variants no experiment of `design` could run with (the first
    is the baseline). The command and the admin both check through here."""
    if design == Experiment.Design.INTERLEAVE:
        if len(variants) != 2 or variants[0].ranker == variants[1].ranker:
            raise ExperimentError("Interleaving takes two different rankers.")
    elif len(variants) < 2:
        raise ExperimentError("An A/B test needs at least two variants.")
    elif sum(v.weight for v in variants) > 100:
        raise ExperimentError("The variants' weights add up to more than 100 percent of users.")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ExperimentError("Each variant needs a name of its own.")
    for variant in variants:
        if not SLUG.match(variant.name) or len(variant.name) > 32:
            raise ExperimentError(f"Variant name {variant.name!r}: letters, digits, - and _, at most 32.")
        if not 1 <= variant.weight <= 100:
            raise ExperimentError(f"Variant {variant.name}: its weight is a percent of users, 1 to 100.")
        ranker_check(variant.ranker, extra_rankers=extra_rankers)


@transaction.atomic
def experiment_create(
    *,
    name: str,
    variants: Sequence[VariantSpec],
    design: str = Experiment.Design.AB,
    salt: str = "",
    description: str = "",
    extra_rankers: Sequence[str] = (),
) -> Experiment:
    """A draft experiment. The salt defaults to its name: each experiment
    splits users its own way. `extra_rankers`: rankers only the caller can
    build (the simulator's oracle)."""
    if not SLUG.match(name) or len(name) > 64:
        raise ExperimentError(f"Experiment name {name!r}: letters, digits, - and _, at most 64.")
    if Experiment.objects.filter(name=name).exists():
        raise ExperimentError(f"An experiment named {name} exists already.")
    variants_check(design=design, variants=variants, extra_rankers=extra_rankers)
    experiment = Experiment.objects.create(name=name, design=design, salt=salt or name, description=description)
    Variant.objects.bulk_create(
        [
            Variant(experiment=experiment, name=v.name, ranker=v.ranker, weight=v.weight, order=i)
            for i, v in enumerate(variants)
        ]
    )
    return experiment


def _changed() -> None:
    # At once, for this process's next read, and on commit, for everyone's
    # (a read between the two would have cached the old state).
    running_experiment_forget()
    transaction.on_commit(running_experiment_forget)


def experiment_start(*, experiment: Experiment, at: datetime | None = None) -> Experiment:
    """Start a draft, now or at `at` (the simulator starts one in simulated
    time). Refused while another experiment runs."""
    try:
        with transaction.atomic():
            experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
            if experiment.status != Status.DRAFT:
                raise ExperimentError(f"Experiment {experiment.name} is {experiment.status}: only a draft starts.")
            running = Experiment.objects.filter(status=Status.RUNNING).values_list("name", flat=True).first()
            if running:
                raise ExperimentError(f"Experiment {running} is running: stop it before starting another.")
            experiment.status, experiment.started_at = Status.RUNNING, at or timezone.now()
            experiment.save(update_fields=["status", "started_at"])
            _changed()
    except IntegrityError as exc:  # another start won the race
        raise ExperimentError("Another experiment started meanwhile: stop it before starting this one.") from exc
    return experiment


def experiment_stop(*, experiment: Experiment, at: datetime | None = None) -> Experiment:
    with transaction.atomic():
        experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
        if experiment.status != Status.RUNNING:
            raise ExperimentError(f"Experiment {experiment.name} is {experiment.status}, not running.")
        experiment.status, experiment.stopped_at = Status.STOPPED, at or timezone.now()
        experiment.save(update_fields=["status", "stopped_at"])
        _changed()
    return experiment


def experiment_ship(*, experiment: Experiment, variant: Variant) -> ModelVersion:
    """Make `variant`'s model version the active one, and stop the experiment
    if it still runs: the winner becomes everyone's feed."""
    if variant.experiment_id != experiment.pk:
        raise ExperimentError(f"{variant.name} is not a variant of {experiment.name}.")
    if variant.ranker == LATEST:
        raise ExperimentError("The chronological feed has no model to ship: stop the experiment instead.")
    with transaction.atomic():
        if variant.ranker == ACTIVE:
            version = registry.active_version()
            if version is None:
                raise ExperimentError("No model version is active: there is nothing to ship.")
        else:
            version = ModelVersion.objects.defer("artifact").filter(name=variant.ranker).first()
            if version is None:
                raise ExperimentError(f"Model version {variant.ranker} no longer exists.")
            try:
                registry.version_activate(version=version)
            except registry.RegistryError as exc:
                raise ExperimentError(str(exc)) from exc
        if Experiment.objects.filter(pk=experiment.pk, status=Status.RUNNING).exists():
            experiment_stop(experiment=experiment)
    return version
