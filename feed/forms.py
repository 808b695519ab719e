from django import forms
from django.conf import settings

from feed.models import Tweet


class TweetForm(forms.Form):
    """A tweet or a reply, as the compose and reply boxes post it."""

    text = forms.CharField(max_length=settings.TWEET_MAX_CHARS)
    reply_to = forms.ModelChoiceField(queryset=Tweet.objects.visible(), required=False)
