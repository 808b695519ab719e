"""Demo seeding for `make run`: a small world and a first ranker."""

import logging

from feed.models import FeedRequest
from ranking.training.train import TrainingError, train_ranker
from simulator.models import World
from simulator.simulation import DEMO_USERNAME, simulate
from users.models import User

logger = logging.getLogger(__name__)

# The printed demo login of development (DEBUG on) only: seed_demo refuses
# it, and asks for or makes another, anywhere else.
DEMO_PASSWORD = "demo-password"  # noqa: S105  # nosec B105


def demo_seed(*, users: int = 300, days: int = 3, seed: int = 1, password: str = DEMO_PASSWORD) -> bool:
    """A small world for a first look, once: returns False when one exists.
    Its first person is the `demo` login (with `password`), an admin so the
    staff pages show. A first ranker is trained on its log, so "For you" is
    ranked from the start."""
    if World.objects.exists():
        return False
    simulate(users=users, days=days, seed=seed, mode=FeedRequest.Mode.LATEST)
    try:
        train_ranker(activate=True)
    except TrainingError as exc:
        logger.warning("The demo world's log is too small to train a ranker: %s", exc)
    demo = User.objects.get(username=DEMO_USERNAME)
    demo.set_password(password)
    demo.is_staff = demo.is_superuser = True
    demo.save(update_fields=["password", "is_staff", "is_superuser"])
    return True
