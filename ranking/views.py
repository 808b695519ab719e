"""The staff pages: "Ranking" (the active model, the registry and the
business metric per day) and the experiments with their readouts. Web
process code: database reads and the experiments' lifecycle, no TensorFlow."""

from datetime import date, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ranking.charts import engagement_chart, readout_charts
from ranking.experiments import lifecycle
from ranking.metrics import engagement_report
from ranking.models import Experiment, ModelVersion
from ranking.registry import active_version

PERIODS_DAYS = (7, 14, 30, 90)
VERSIONS_SHOWN = 20
READOUT_EARLIEST_DAY = date(1970, 1, 1)
WEIGHT_NAMES = {
    "like": "a like",
    "retweet": "a retweet",
    "reply": "a reply",
    "dwell": "a long view",
    "hide": "a hide",
    "report": "a report",
}


def _staff_only(request) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Staff only.")


def _allowed_to_run_experiments(request) -> None:
    _staff_only(request)
    if not request.user.has_perm("ranking.change_experiment"):
        raise PermissionDenied("Starting, stopping and shipping experiments takes the permission to change them.")


@login_required
def ranking(request):
    _staff_only(request)
    try:
        days = int(request.GET.get("days", 14))
    except ValueError:
        days = 0
    if days not in PERIODS_DAYS:
        raise BadRequest(f"days: one of {', '.join(map(str, PERIODS_DAYS))}.")
    end = timezone.localdate()
    report = engagement_report(start=end - timedelta(days=days - 1), end=end, by="variant")
    context = {
        "active": active_version(),
        "versions": ModelVersion.objects.defer("artifact")[:VERSIONS_SHOWN],
        "report": report,
        "chart": engagement_chart(report),
        # What the score is made of, next to it: the negative weights explain a negative score.
        "weights": [(WEIGHT_NAMES[kind], weight) for kind, weight in settings.ENGAGEMENT_WEIGHTS.items()],
        "dwell_long_s": settings.DWELL_LONG_MS / 1000,
        "days": days,
        "periods": PERIODS_DAYS,
    }
    return render(request, "ranking/ranking.html", context)


@login_required
def experiments(request):
    _staff_only(request)
    context = {"experiments": Experiment.objects.prefetch_related("variants")}
    return render(request, "ranking/experiments.html", context)


def _day(request, key: str) -> date | None:
    """A readout's first or last day. Bounded: no event is older than the
    epoch or a year ahead, and the extreme days of the calendar overflow
    when turned into times."""
    text = request.GET.get(key, "")
    if not text:
        return None
    earliest, latest = READOUT_EARLIEST_DAY, timezone.localdate() + timedelta(days=366)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is None or not earliest <= day <= latest:
        raise BadRequest(f"{key}: a day from {earliest} to {latest}, as YYYY-MM-DD.")
    return day


@login_required
def experiment(request, name: str):
    _staff_only(request)
    experiment = get_object_or_404(Experiment, name=name)
    start, end = _day(request, "start"), _day(request, "end")
    if start and end and end < start:
        raise BadRequest("end: on or after start.")
    # Imported here: the readout's numpy and scipy cost a web process ~70 MB,
    # and only this staff page needs them.
    from ranking.experiments.readout import experiment_readout

    readout = experiment_readout(experiment=experiment, start=start, end=end).as_dict()
    context = {
        "experiment": experiment,
        "readout": readout,
        "charts": readout_charts(readout),
        "shippable": experiment.variants.exclude(ranker=lifecycle.LATEST),
        "start": start,
        "end": end,
    }
    return render(request, "ranking/experiment.html", context)


def _act(request, name: str, act):
    """Run a lifecycle step on the named experiment and say what it did, or
    why it was refused, on the experiment's page."""
    _allowed_to_run_experiments(request)
    experiment = get_object_or_404(Experiment, name=name)
    try:
        done = act(experiment)
    except lifecycle.ExperimentError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect("experiment", name=experiment.name)


@require_POST
@login_required
def experiment_start(request, name: str):
    def start(experiment: Experiment) -> str:
        lifecycle.experiment_start(experiment=experiment)
        return f"Started {experiment.name}."

    return _act(request, name, start)


@require_POST
@login_required
def experiment_stop(request, name: str):
    def stop(experiment: Experiment) -> str:
        lifecycle.experiment_stop(experiment=experiment)
        return f"Stopped {experiment.name}."

    return _act(request, name, stop)


@require_POST
@login_required
def experiment_ship(request, name: str):
    variant_name = request.POST.get("variant", "")

    def ship(experiment: Experiment) -> str:
        variant = experiment.variants.filter(name=variant_name).first()
        if variant is None:
            raise lifecycle.ExperimentError(f"{experiment.name} has no variant named {variant_name!r}.")
        version = lifecycle.experiment_ship(experiment=experiment, variant=variant)
        return f"Shipped {variant.name}: {version.name} is the active model and {experiment.name} is stopped."

    return _act(request, name, ship)
