import uuid

import factory

from feed import services as feed_services
from feed.models import Engagement, FeedRequest
from ranking.experiments.assignment import Arm, Assignment
from ranking.models import Experiment
from users import services as user_services
from users.models import User

PASSWORD = "correct-horse-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    # Fixed, not Faker's: a random "Alan …" once matched a search test's prefix.
    display_name = factory.Sequence(lambda n: f"Member {n}")
    # Hashed when the user is built, so the stored hash logs in.
    password = factory.django.Password(PASSWORD)


class SuperUserFactory(UserFactory):
    is_staff = True
    is_superuser = True


def tweet(author=None, text="hello", **kwargs):
    """Tweets are made the way the product makes them: through the service."""
    return feed_services.tweet_create(author=author or UserFactory(), text=text, **kwargs)


def follow(follower, *followees):
    for followee in followees:
        user_services.follow_create(follower=follower, followee=followee)


def served(viewer, *tweets, mode="latest", **request_fields):
    """A feed request of `viewer`'s that served `tweets` at positions 0, 1, ...:
    client events may name only what a feed request served."""
    feed_request = feed_services.feed_request_create(user=viewer, mode=mode, **request_fields)
    items = [feed_services.FeedItem(served_tweet, position) for position, served_tweet in enumerate(tweets)]
    feed_services.served_record(feed_request=feed_request, items=items)
    return feed_request


def assigned(variant="B"):
    """An assignment to `variant` of an experiment made for it (not running:
    the feed request or event it is given to says which variant it was)."""
    experiment = Experiment.objects.create(name=f"exp-{Experiment.objects.count()}", salt="test")
    return Assignment(experiment.pk, experiment.name, variant, (Arm(variant, "latest", 50),))


def exposed(experiment, variant: str, *, users: int, liking: int = 0) -> list:
    """`users` new users shown `experiment`'s `variant` (a feed request of
    it and an impression each), the first `liking` of them liking what they
    saw: the rows an experiment's readout reads."""
    shown = tweet(text="in an experiment")
    viewers = []
    for n in range(users):
        viewer = UserFactory()
        feed_request = FeedRequest.objects.create(
            id=uuid.uuid4(), user=viewer, mode="latest", experiment=experiment, variant=variant
        )
        Engagement.objects.create(
            user=viewer,
            tweet=shown,
            kind="impression",
            feed_request=feed_request,
            position=0,
            experiment=experiment,
            variant=variant,
        )
        if n < liking:
            feed_services.like_create(user=viewer, tweet=shown)
        viewers.append(viewer)
    return viewers
