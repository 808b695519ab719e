"""The people pages: sign-up and who follows whom (a profile, which lists
tweets, is a feed page). Thin: they call the services and selectors the API
calls; following goes to the API."""

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from config.pages import page_of, render_list
from users import selectors, services
from users.forms import SignupForm


def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            user = services.user_create(**form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            login(request, user)
            return redirect("home")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


def _profile_or_404(request, username: str):
    return get_object_or_404(selectors.user_profiles(viewer=request.user), username=username)


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
