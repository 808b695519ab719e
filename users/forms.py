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


class ProfileForm(forms.Form):
    """The settings page's profile: shape only, users.services.user_profile_update holds the rules."""

    display_name = forms.CharField(max_length=50, required=False)
    bio = forms.CharField(max_length=160, required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}))


class AvatarForm(forms.Form):
    """The settings page's avatar upload: users.avatars checks the image."""

    avatar = forms.FileField(
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/gif,image/webp"})
    )


class MutedWordForm(forms.Form):
    """Shape only: `users.services.muted_word_create` checks the word."""

    word = forms.CharField(max_length=60, label="Mute a word")
