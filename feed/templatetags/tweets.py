"""Template tags for tweets: text with safe links, compact ages, who
retweeted a card, the compose box."""

import re
from collections.abc import Iterable
from datetime import datetime

from django import template
from django.conf import settings
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from feed.models import Report, Tweet
from feed.services import FeedItem
from users.selectors import usernames_existing

register = template.Library()

# A mention is @ and a whole username (users.models): not the tail of a word
# (`bob@example.com`), and not followed by more of a name or by another @
# (`@a@b.c`, a remote account, is no local person's).
MENTION_PATTERN = r"(?<![\w@])@(?P<mention>[A-Za-z0-9_]{1,30})(?![\w@])"
MENTION_RE = re.compile(MENTION_PATTERN)
# One pass over the raw text finds links; everything between them is escaped
# as text. Only http(s) URLs become links, so `javascript:` stays text.
TOKEN_RE = re.compile(rf"(?P<url>\bhttps?://[^\s<>\"']+)|{MENTION_PATTERN}|(?<![\w#])#(?P<tag>\w+)")
# Punctuation that ends a sentence rather than a URL.
URL_TRAILING = ".,;:!?)]}"


def _link(match: re.Match, people: dict[str, str]) -> tuple[SafeString | str, int]:
    """The link for one token (a mention of no one in `people` stays text)
    and where the text it covers ends."""
    if match["url"]:
        url = match["url"].rstrip(URL_TRAILING)
        anchor = format_html('<a href="{}" rel="nofollow noopener" target="_blank">{}</a>', url, url)
        return anchor, match.start() + len(url)
    if match["mention"]:
        username = people.get(match["mention"].lower())
        if username is None:
            return match.group(), match.end()
        link = format_html('<a href="{}">@{}</a>', reverse("profile", args=[username]), match["mention"])
        return link, match.end()
    tag = match["tag"]
    return format_html('<a href="{}">#{}</a>', reverse("hashtag", args=[tag]), tag), match.end()


@register.filter
def linkify(text: str, people: dict[str, str] | None = None) -> SafeString:
    """Tweet text, HTML-escaped, with http(s) URLs, #hashtags and @mentions
    of `people` as links (`{{ text|linkify:mentioned }}`): `people` maps a lowercased username to the
    username, for the people of the page who exist (`people_mentioned`); a
    mention of anyone else stays text."""
    parts = []
    end = 0
    for match in TOKEN_RE.finditer(text):
        parts.append(text[end : match.start()])  # escaped by format_html_join
        link, end = _link(match, people or {})
        parts.append(link)
    parts.append(text[end:])
    return format_html_join("", "{}", ((part,) for part in parts))


def _texts(groups) -> list[str]:
    texts = []
    for group in groups:
        for entry in group if isinstance(group, Iterable) else [group]:
            tweet = entry.tweet if isinstance(entry, FeedItem) else entry
            if isinstance(tweet, Tweet):
                texts.append(tweet.original.text)
    return texts


@register.simple_tag(takes_context=True)
def people_mentioned(context, *groups) -> dict[str, str]:
    """Who, of the people the tweets of `groups` (tweets, feed items, lists
    or pages of them) mention, exists: for `linkify`. One query for the
    whole page, none when nobody is mentioned. A page that looked them up for
    all of its tweets already (`mentioned` in the context) is not asked
    again by its lists."""
    if context.get("mentioned") is not None:
        return context["mentioned"]
    names = {match["mention"] for text in _texts(groups) for match in MENTION_RE.finditer(text)}
    return usernames_existing(names=names)


@register.filter
def age(moment: datetime) -> str:
    """How long ago, the way timelines say it: now, 5m, 3h, then the date."""
    seconds = (timezone.now() - moment).total_seconds()
    if seconds < 60:
        return "now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    local = timezone.localtime(moment)
    return date_format(local, "M j" if local.year == timezone.localtime().year else "M j, Y")


def _joined(names: list) -> SafeString:
    """ "a", "a and b", "a, b and c"."""
    if len(names) == 1:
        return format_html("{}", names[0])
    return format_html("{} and {}", format_html_join(", ", "{}", ((name,) for name in names[:-1])), names[-1])


def _profile_link(username: str) -> SafeString:
    return format_html('<a href="{}">@{}</a>', reverse("profile", args=[username]), username)


@register.simple_tag
def retweeted_by(tweet, viewer) -> SafeString:
    """Who retweeted a retweet's card: "You retweeted", "@alice retweeted" or,
    in the home timeline, which shows one card per original at its newest
    retweet (feed.selectors.timeline_latest), who else there did: "You,
    @alice and 2 others retweeted"."""
    you = tweet.author_id == viewer.pk
    names = ["You" if you else _profile_link(tweet.author.username)]
    if hasattr(tweet, "also_retweeted_count"):
        if not you and getattr(tweet, "retweeted", False):
            names.insert(0, "You")
        others = tweet.also_retweeted_count
        if tweet.also_retweeted_by:
            names.append(_profile_link(tweet.also_retweeted_by))
            others -= 1
        if others > 0:
            names.append(f"{others} other{pluralize(others)}")
    return format_html("{} retweeted", _joined(names))


@register.simple_tag
def report_reasons() -> list[tuple[str, str]]:
    return Report.Reason.choices


@register.inclusion_tag("partials/compose.html", takes_context=True)
def compose_box(context, reply_to=None, back: str = "", text: str = "") -> dict:
    """The compose box (a reply box with `reply_to`), posting to the compose
    page, which sends the author back to `back`."""
    return {
        "csrf_token": context["csrf_token"],
        "reply_to": reply_to,
        "back": back,
        "text": text,
        "max_chars": settings.TWEET_MAX_CHARS,
    }
