from django import forms
from django.contrib.auth.forms import AuthenticationForm

from config.converters import USERNAME_MAX_CHARS
from config.ratelimit import RateLimited


class SignupForm(forms.Form):
    """Shape only: `users.services.user_create` checks the username and the
    password rules."""

    username = forms.CharField(max_length=USERNAME_MAX_CHARS)
    display_name = forms.CharField(max_length=50, required=False)
    password = forms.CharField(strip=False, max_length=128, widget=forms.PasswordInput)


class LoginForm(AuthenticationForm):
    """Django's log-in form, with a log-in limit's refusal (users.auth) as
    its error; `refusal` tells the view to answer 429."""

    refusal: RateLimited | None = None

    def clean(self):
        try:
            return super().clean()
        except RateLimited as exc:
            self.refusal = exc
            raise forms.ValidationError(str(exc.detail), code="throttled") from exc
