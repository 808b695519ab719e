from django import forms

from feed.models import Tweet


class TweetForm(forms.Form):
    """A tweet or a reply, as the compose and reply boxes post it. Shape only:
    `feed.services.tweet_create` holds the rules on the text."""

    text = forms.CharField(strip=False)
    reply_to = forms.ModelChoiceField(queryset=Tweet.objects.visible(), required=False)
