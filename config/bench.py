"""The floor of `make bench-serving`: a bare Django JSON view, through the
same middleware and gunicorn workers as the API but with no DRF, no
authentication and no query. Mounted only when BENCH_FLOOR_VIEW is set
(bin/bench-serving sets it); a normal run has no such URL."""

from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def floor(request):
    return JsonResponse({"ok": True})
