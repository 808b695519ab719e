"""The people pages: sign-up and who follows whom (a profile, which lists
tweets, is a feed page). Thin: they call the services and selectors the API
calls; following goes to the API."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from config.pages import page_of, refused, render_list
from config.ratelimit import RateLimited, write_check
from users import selectors, services
from users.api import NOTIFICATION_VERBS
from users.auth import signup_check
from users.forms import LoginForm, MutedWordForm, SignupForm
from users.models import User


def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST if request.method == "POST" else None)
    refusal = None
    if form.is_valid():
        try:
            signup_check(request=request, username=form.cleaned_data["username"])
            user = services.user_create(**form.cleaned_data)
        except RateLimited as exc:
            refusal = exc
            form.add_error(None, str(exc.detail))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            login(request, user)
            return redirect("home")
    response = render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)
    return refused(response, refusal) if refusal else response


class LoginView(auth_views.LoginView):
    """Django's, answering a log-in limit (users.auth) with the form, its
    message and a 429."""

    form_class = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        return refused(response, form.refusal) if form.refusal else response


def _profile_or_404(request, username: str):
    profiles = selectors.user_profiles(viewer=request.user).exclude(selectors.blocked_q(request.user, "pk"))
    return get_object_or_404(profiles, username=username)


def _people(request, username: str, relation: str):
    person = _profile_or_404(request, username)
    edges = selectors.followers_of if relation == "followers" else selectors.following_of
    page, more = page_of(request, edges(user=person).order_by("-followed_at", "-pk"))
    people = selectors.profiles_in_order(viewer=request.user, user_ids=[user.pk for user in page])
    context = {"person": person, "relation": relation, "people": people, "next_url": more}
    return render_list(request, "users/people.html", "partials/user_list.html", context)


@login_required
def followers(request, username: str):
    return _people(request, username, "followers")


@login_required
def following(request, username: str):
    return _people(request, username, "following")


# --- Mute, block, muted words, notifications ----------------------------------------

RELATION_ACTIONS = {
    "mute": (services.mute_create, "muted", "You muted @{}: you will not see their tweets or notifications."),
    "unmute": (services.mute_delete, "muted", "You unmuted @{}."),
    "block": (services.block_create, "blocked", "You blocked @{}: they can no longer follow you or see your tweets."),
    "unblock": (services.block_delete, "blocked", "You unblocked @{}."),
}


@login_required
@require_POST
def relation(request, username: str):
    """The profile's Mute and Block buttons (a form each, no script needed):
    `action` is mute, unmute, block or unblock. Back to the profile with a
    message saying what happened (or why not: yourself, the write limit),
    or to the settings page when `next` is "settings"."""
    action = request.POST.get("action", "")
    if action not in RELATION_ACTIONS:
        raise BadRequest("action: mute, unmute, block or unblock.")
    person = get_object_or_404(User, username=username, is_active=True)
    service, role, message = RELATION_ACTIONS[action]
    try:
        write_check(request)
        service(**{"user": request.user, role: person})
    except RateLimited as exc:
        messages.error(request, str(exc.detail))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, message.format(person.username))
    back = request.POST.get("next")
    if back == "settings":
        return redirect("muted-settings")
    return redirect("profile", person.username)


@login_required
@require_http_methods(["GET", "POST"])
def muted_settings(request):
    """Muted words (add, remove) and the people muted and blocked."""
    form = MutedWordForm(request.POST if request.method == "POST" else None)
    refusal = None
    if request.method == "POST":
        try:
            write_check(request)
            if "remove" in request.POST:
                services.muted_word_delete(user=request.user, muted_word_id=_int(request.POST["remove"]))
                return redirect("muted-settings")
            if form.is_valid():
                services.muted_word_create(user=request.user, word=form.cleaned_data["word"])
                messages.success(request, "Muted. Tweets with it leave your feeds and notifications.")
                return redirect("muted-settings")
        except RateLimited as exc:
            refusal = exc
            form.add_error(None, str(exc.detail))
        except ValidationError as exc:
            form.add_error("word", exc.message_dict.get("word", exc.messages))
    context = {
        "form": form,
        "words": selectors.muted_words_of(request.user),
        "muted_people": selectors.muted_people(viewer=request.user),
        "blocked_people": selectors.blocked_people(viewer=request.user),
    }
    response = render(request, "users/muted.html", context, status=400 if form.errors else 200)
    return refused(response, refusal) if refusal else response


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise BadRequest("Not a muted word.") from exc


@login_required
def notifications(request):
    """The notifications, newest first; opening the page marks them read (the
    unread ones are marked as such on this showing)."""
    groups, more = page_of(request, selectors.notification_groups(viewer=request.user).order_by("-latest", "-last_id"))
    lines = selectors.notifications_hydrated(list(groups))
    if not request.GET.get("page"):
        services.notifications_read(user=request.user)
    lines = [{**line, "others": line["count"] - 1, "verb": NOTIFICATION_VERBS[line["kind"]]} for line in lines]
    context = {"lines": lines, "next_url": more}
    return render_list(request, "users/notifications.html", "partials/notification_list.html", context)
