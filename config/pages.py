"""Page plumbing shared by every app: lists that load more of themselves, and
the answer to a rate limit's refusal.

A list page ends with a "Load more" link to its next page. Without script it
is a plain link; the page's script fetches it with the `X-Fragment` header
instead and appends the items it answers, so the items' markup is rendered
(and escaped) in one place, on the server.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.core.paginator import InvalidPage, Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from config.ratelimit import RateLimited

FRAGMENT_HEADER = "X-Fragment"


def render_list(request: HttpRequest, template: str, fragment: str, context: dict) -> HttpResponse:
    """The whole page, or only its list (`fragment`) when the script asks."""
    response = render(request, fragment if request.headers.get(FRAGMENT_HEADER) else template, context)
    patch_vary_headers(response, [FRAGMENT_HEADER])
    return response


def next_url(**params) -> str:
    return f"?{urlencode(params)}"


def page_of(request: HttpRequest, queryset) -> tuple[Page, str | None]:
    """The `?page=` page of an ordered queryset (a 404 past its end) and the
    link to the next one. Two queries: the count and the page."""
    paginator = Paginator(queryset, settings.FEED_PAGE_SIZE)
    try:
        page = paginator.page(request.GET.get("page") or 1)
    except InvalidPage as exc:
        raise Http404("No such page.") from exc
    return page, next_url(page=page.next_page_number()) if page.has_next() else None


def refused(response: HttpResponse, refusal: RateLimited) -> HttpResponse:
    """A page that shows a limit's message (a form with its error): 429, and
    when to come back."""
    response.status_code = 429
    response["Retry-After"] = str(refusal.wait)
    return response


class RateLimitedMiddleware:
    """A limit refusing a page that does not show the message itself (the
    admin's log-in, which authenticates through users.auth): a 429 page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, RateLimited):
            return refused(render(request, "429.html", {"message": exception.detail}), exception)
        return None
