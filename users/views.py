"""The people pages: sign-up and who follows whom (a profile, which lists
tweets, is a feed page). Thin: they call the services and selectors the API
calls; following goes to the API."""

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from config.pages import page_of, refused, render_list
from config.ratelimit import RateLimited
from users import selectors, services
from users.auth import signup_check
from users.forms import LoginForm, SignupForm


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
    return get_object_or_404(selectors.user_profiles(viewer=request.user).named(username))


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
