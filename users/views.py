"""The people pages: sign-up and who follows whom (a profile, which lists
tweets, is a feed page). Thin: they call the services and selectors the API
calls; following goes to the API."""

from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import BadRequest, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from config.pages import page_of, refused, render_list
from config.ratelimit import RateLimited, write_check
from users import avatars, selectors, services
from users.api import NOTIFICATION_VERBS
from users.auth import signup_check
from users.forms import AvatarForm, LoginForm, MutedWordForm, ProfileForm, SignupForm
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
    return get_object_or_404(profiles.named(username))


def _people(request, username: str, relation: str):
    person = _profile_or_404(request, username)
    edges = selectors.followers_of if relation == "followers" else selectors.following_of
    page, more = page_of(request, edges(user=person).order_by("-followed_at", "-pk"))
    people = selectors.profiles_in_order(viewer=request.user, user_ids=[user.pk for user in page])
    context = {"person": person, "relation": relation, "people": people, "next_url": more}
    return render_list(request, "users/people.html", "partials/user_list.html", context)


# Public, like the profile they belong to.
def followers(request, username: str):
    return _people(request, username, "followers")


def following(request, username: str):
    return _people(request, username, "following")


# The generated avatar depends on the username only: no query, and a browser
# may keep it for a day.
AVATAR_DEFAULT_CACHE_S = 24 * 3600


@require_safe
def avatar_default(request, username: str):
    """The generated avatar of anyone without an uploaded one (users.avatars)."""
    response = HttpResponse(avatars.default_svg(username), content_type="image/svg+xml")
    response["Cache-Control"] = f"public, max-age={AVATAR_DEFAULT_CACHE_S}"
    return response


def _settings_post(request, action: str):
    """One of the settings page's forms, posted: a redirect when it is done,
    else the forms to show again, the posted one with its errors."""
    forms = {"profile": ProfileForm(), "avatar": AvatarForm(), "password": PasswordChangeForm(request.user)}
    if action == "profile":
        form = forms["profile"] = ProfileForm(request.POST)
        if form.is_valid():
            try:
                services.user_profile_update(user=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, "Your profile was saved.")
                return None
    elif action == "avatar":
        form = forms["avatar"] = AvatarForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                avatars.avatar_set(user=request.user, upload=form.cleaned_data["avatar"])
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, "Your avatar was saved.")
                return None
    elif action == "avatar-delete":
        avatars.avatar_delete(user=request.user)
        messages.success(request, "Your avatar was removed.")
        return None
    elif action == "password":
        form = forms["password"] = PasswordChangeForm(request.user, request.POST)
        if form.is_valid():
            form.save()
            update_session_auth_hash(request, form.user)  # stay logged in here, out everywhere else
            messages.success(request, "Your password was changed.")
            return None
    else:
        raise BadRequest("Unknown settings action.")
    return forms


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
    person = get_object_or_404(User.objects.named(username), is_active=True)
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


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request):
    """Display name, bio, avatar and password: the services the API calls
    (users.services, users.avatars) and Django's PasswordChangeForm. Each
    form posts on its own; a refused one comes back with its errors (400),
    the write limit's refusal with a 429."""
    forms = {
        "profile": ProfileForm(initial={"display_name": request.user.display_name, "bio": request.user.bio}),
        "avatar": AvatarForm(),
        "password": PasswordChangeForm(request.user),
    }
    refusal, status = None, 200
    if request.method == "POST":
        try:
            write_check(request)
            posted = _settings_post(request, request.POST.get("action", ""))
        except RateLimited as exc:
            refusal, posted = exc, forms
            messages.error(request, str(exc.detail))
        if posted is None:
            return redirect("settings")
        forms.update({name: form for name, form in posted.items() if form.is_bound})
        status = 400
    context = {f"{name}_form": form for name, form in forms.items()}
    response = render(request, "users/settings.html", context, status=status)
    return refused(response, refusal) if refusal else response
