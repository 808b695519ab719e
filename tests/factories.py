import factory

from feed import services as feed_services
from users.models import User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-9")


def tweet(author=None, text="hello", **kwargs):
    """Tweets are made the way the product makes them: through the service."""
    return feed_services.tweet_create(author=author or UserFactory(), text=text, **kwargs)
