import pytest
from playwright.sync_api import expect

from ranking.experiments.lifecycle import VariantSpec, experiment_create, experiment_start
from ranking.registry import active_version, register
from ranking.spec import FEATURE_SPEC_VERSION
from tests.browser.conftest import leave_by, screenshot
from tests.factories import SuperUserFactory, exposed

pytestmark = pytest.mark.slow


def test_the_staff_experiment_page_shows_its_readout_and_ships_a_variant(page, log_in):
    log_in(SuperUserFactory())
    version = register(artifact=b"x", metrics={}, feature_spec_version=FEATURE_SPEC_VERSION)
    experiment = experiment_create(
        name="feed-test", variants=[VariantSpec("control", "latest", 50), VariantSpec("treatment", version.name, 50)]
    )
    experiment_start(experiment=experiment)
    exposed(experiment, "control", users=40, liking=10)
    exposed(experiment, "treatment", users=10, liking=8)  # a skewed split, too

    page.goto("/ranking/")
    leave_by(page.get_by_role("link", name="Experiments"))
    leave_by(page.get_by_role("link", name="feed-test"))

    expect(page.get_by_role("alert")).to_contain_text("this readout cannot be trusted")
    expect(page.locator('svg[data-chart="metric-chart"] circle.point')).to_have_count(2)
    expect(page.locator('svg[data-chart="lift-chart"] line.interval')).to_have_count(1)
    screenshot(page, "experiment")
    leave_by(page.get_by_role("button", name="Ship treatment"))

    expect(page.locator(".message.success")).to_contain_text(f"{version.name} is the active model")
    assert active_version() == version
