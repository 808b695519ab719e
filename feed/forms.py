from django import forms

from feed.models import Tweet


class TweetForm(forms.Form):
    """A tweet or a reply, as the compose and reply boxes post it. Shape only:
    `feed.services.tweet_create` holds the rules on the text."""

    text = forms.CharField(strip=False)
    reply_to = forms.ModelChoiceField(queryset=Tweet.objects.visible(), required=False)


class SearchForm(forms.Form):
    """The search page's query, with the API's bounds (feed.api.SearchQuerySerializer)."""

    q = forms.CharField(max_length=100, label="Search")
    type = forms.ChoiceField(choices=[("", "all"), ("users", "people")], required=False)
