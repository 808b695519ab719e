"""The staff "Ranking" page: the active model, the registry and the business
metric per day. Web process code: database reads only, no TensorFlow."""

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied
from django.shortcuts import render
from django.utils import timezone

from ranking.charts import engagement_chart
from ranking.metrics import engagement_report
from ranking.models import ModelVersion
from ranking.registry import active_version

PERIODS_DAYS = (7, 14, 30, 90)
VERSIONS_SHOWN = 20


@login_required
def ranking(request):
    if not request.user.is_staff:
        raise PermissionDenied("Staff only.")
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
        "days": days,
        "periods": PERIODS_DAYS,
    }
    return render(request, "ranking/ranking.html", context)
