"""The project's URLs plus one view that crashes, under /api/ and not: a
real uncaught exception, to see what Django's 500 handlers answer."""

from django.urls import path

from config.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def crash(request):
    raise RuntimeError("a bug")


urlpatterns = [path("api/crash/", crash), path("crash/", crash), *urlpatterns]
