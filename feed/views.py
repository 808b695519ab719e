"""The feed's pages: home (For you and Following), posting, a tweet with its
conversation, a profile with its tweets, a hashtag. Thin: they call the services and selectors the API
calls; actions on a card (like, retweet, hide, report) go to the API itself."""

from datetime import UTC

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods

from config.pages import next_url, page_of, refused, render_list
from config.ratelimit import RateLimited, write_check
from feed import selectors, services
from feed.forms import SearchForm, TweetForm
from feed.models import FeedRequest
from users.selectors import blocked_q, follows_anyone, relation_of, user_profiles, users_search


def home(request):
    """The "For you" feed for people logged in; for everyone else, what this is."""
    if not request.user.is_authenticated:
        return render(request, "landing.html")
    return _feed(request, FeedRequest.Mode.RANKED)


@login_required
def following(request):
    return _feed(request, FeedRequest.Mode.LATEST)


def _feed(request, mode: str):
    try:
        page = services.feed_read(viewer=request.user, mode=mode, cursor=request.GET.get("cursor") or None)
    except ValidationError as exc:
        raise BadRequest("Invalid cursor.") from exc
    context = {
        "tab": mode,
        "page": page,
        "next_url": next_url(cursor=page.next_cursor) if page.next_cursor else None,
        # The "new tweets" hint asks for tweets newer than this page.
        "since": timezone.now(),
        # An empty feed says "follow a few" only to someone who follows nobody.
        "follows_nobody": not page.items and not follows_anyone(user=request.user),
    }
    return render_list(request, "feed/home.html", "partials/feed_items.html", context)


@login_required
@require_GET
def feed_newer(request):
    """Whether there is something newer than `?since=` (ISO 8601) to show."""
    try:
        since = parse_datetime(request.GET.get("since", ""))
        # In UTC: PostgreSQL takes offsets only up to 15:59.
        since = since.astimezone(UTC) if since is not None and timezone.is_aware(since) else None
    except (ValueError, OverflowError):
        since = None
    if since is None:
        raise BadRequest("since: an ISO 8601 time with its offset.")
    return JsonResponse({"newer": selectors.timeline_has_newer(viewer=request.user, since=since)})


@login_required
@require_http_methods(["GET", "POST"])
def compose(request):
    """Post a tweet, then go back where the form said (or to the new tweet);
    or post a reply, then see it in its conversation. Errors, and the
    write limit's refusal (429), come back on this page, with the text kept."""
    form = TweetForm(request.POST if request.method == "POST" else None)
    back = request.POST.get("next") or request.GET.get("next")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = None
    refusal = None
    if form.is_valid():
        try:
            write_check(request)  # the API's write limit: one count for both
            tweet = services.tweet_create(author=request.user, **form.cleaned_data)
        except RateLimited as exc:
            refusal = exc
            form.add_error(None, str(exc.detail))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if tweet.reply_to_id:
                messages.success(request, "Your reply was posted.")
                return redirect(_in_conversation(request.user, tweet))
            messages.success(request, "Your tweet was posted.")
            return redirect(back or reverse("tweet", args=[tweet.pk]))
    response = render(request, "feed/compose.html", {"form": form, "next": back}, status=400 if form.errors else 200)
    return refused(response, refusal) if refusal else response


def _in_conversation(viewer, reply) -> str:
    """The parent's page, at the page of replies that lists `reply`,
    scrolled to it (its card is the fragment's target, highlighted)."""
    page = selectors.replies_before(viewer=viewer, reply=reply) // settings.FEED_PAGE_SIZE + 1
    query = f"?page={page}" if page > 1 else ""
    return f"{reverse('tweet', args=[reply.reply_to_id])}{query}#t-{reply.pk}"


def tweet_detail(request, tweet_id: int):
    """A tweet in its conversation: the tweets it answers above, its replies
    below, oldest first, and a reply box. Public: a shared link reads the
    same logged out (without the buttons, and without the engagement
    logger, so nothing is logged for a visitor)."""
    tweet = get_object_or_404(selectors.tweets_hydrated(viewer=request.user), pk=tweet_id)
    if tweet.retweet_of_id:
        return redirect("tweet", tweet.retweet_of_id)
    replies = selectors.tweet_replies(viewer=request.user, tweet=tweet).order_by("created_at", "pk")
    page, more = page_of(request, replies)
    context = {
        "tweet": tweet,
        "ancestors": selectors.tweet_ancestors(viewer=request.user, tweet=tweet),
        "tweets": page,
        "next_url": more,
    }
    return render_list(request, "feed/tweet.html", "partials/tweet_list.html", context)


def hashtag(request, tag: str):
    """Tweets with #tag, newest first. Public, like a tweet's page."""
    page, more = page_of(request, selectors.tweets_tagged(viewer=request.user, tag=tag))
    context = {"tag": tag, "tweets": page, "next_url": more}
    return render_list(request, "feed/hashtag.html", "partials/tweet_list.html", context)


# People shown above the tweets on the search page; "All people" shows the rest.
SEARCH_PEOPLE_PREVIEW = 3


def search(request):
    """People and tweets matching `?q=`: a few people, then the tweets,
    newest first; with `type=users`, all the people, the most followed
    first. Public, like a tweet's page. Each list is one query of the
    selectors the API searches with."""
    form = SearchForm(request.GET if "q" in request.GET else None)
    context = {"form": form, "query": "", "kind": "", "people": [], "tweets": [], "next_url": None}
    if not form.is_valid():
        return render(request, "feed/search.html", context, status=400 if form.errors else 200)
    query, kind = form.cleaned_data["q"], form.cleaned_data["type"]
    people = users_search(viewer=request.user, query=query).order_by("-follower_count", "pk")
    if kind == "users":
        page, more = page_of(request, people)
        fragment = "partials/user_list.html"
        context["people"] = page
    else:
        preview = list(people[: SEARCH_PEOPLE_PREVIEW + 1])
        tweets = selectors.tweets_search(viewer=request.user, query=query).order_by("-created_at", "-pk")
        page, more = page_of(request, tweets)
        fragment = "partials/tweet_list.html"
        context.update(people=preview[:SEARCH_PEOPLE_PREVIEW], more_people=len(preview) > SEARCH_PEOPLE_PREVIEW)
        context["tweets"] = page
    context.update(query=query, kind=kind)
    if more:
        context["next_url"] = next_url(q=query, type=kind, page=page.next_page_number())
    return render_list(request, "feed/search.html", fragment, context)


def profile(request, username: str):
    """Who they are, their counts, and their tweets, retweets and replies,
    newest first. Public, like a tweet's page; someone who blocked the
    viewer does not exist for them (as in the API)."""
    person = get_object_or_404(
        user_profiles(viewer=request.user).exclude(blocked_q(request.user, "pk")).named(username)
    )
    tweets = selectors.tweets_by(viewer=request.user, author=person).order_by("-created_at", "-pk")
    page, more = page_of(request, tweets)
    context = {"person": person, "tweets": page, "next_url": more, **relation_of(viewer=request.user, person=person)}
    return render_list(request, "users/profile.html", "partials/tweet_list.html", context)
