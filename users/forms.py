from django import forms


class SignupForm(forms.Form):
    """Shape only: `users.services.user_create` checks the username and the
    password rules."""

    username = forms.CharField(max_length=150)
    display_name = forms.CharField(max_length=50, required=False)
    password = forms.CharField(strip=False, max_length=128, widget=forms.PasswordInput)
