"""Browser tests: Playwright driving Debian's Chromium (never Playwright's own
download; `bin/ensure-browser` installs the package) against pytest-django's
live server, on the test database."""

import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
TIMEOUT_MS = 10_000
ENGAGEMENTS = "/api/engagements/"
# The live server handles each request in a thread socketserver names so.
REQUEST_THREAD = "process_request_thread"


@pytest.fixture(scope="package")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"No Chromium at {CHROMIUM}: run bin/ensure-browser (make test does).")
    # Playwright's sync API runs an event loop in this thread, which Django
    # takes for async code; the test's own ORM calls are synchronous all the
    # same. Scoped to these tests: the other packages run after them.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture
def context(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1100, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    # What the pages still hold when they close is dropped; what they sent
    # before must be handled while this test's database is still there.
    context.route(f"**{ENGAGEMENTS}", lambda route: route.abort())
    context.close()
    eventually(lambda: not any(REQUEST_THREAD in thread.name for thread in threading.enumerate()))


@pytest.fixture
def page(context):
    """A page that fails the test on any script error or dialog (an alert
    would mean a script ran that should not have)."""
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    yield page
    assert problems == []


@pytest.fixture
def log_in(context, live_server):
    """Log the browser in as a user, through a session cookie."""

    def as_user(user):
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
        return user

    return as_user


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def screenshots(page, name: str) -> None:
    """Full-page screenshots of what the page shows at a phone's width and at
    a desktop's (`<name>-phone.png`, `<name>-desktop.png`), then back to the
    viewport it had."""
    viewport, scrolled = page.viewport_size, page.evaluate("[window.scrollX, window.scrollY]")
    # From the top: a full page taken scrolled shows the sticky header midway.
    page.evaluate("window.scrollTo(0, 0)")
    for width, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        screenshot(page, f"{name}-{width}")
    page.set_viewport_size(viewport)
    page.evaluate("([x, y]) => window.scrollTo(x, y)", scrolled)


def leave_by(locator, **click) -> None:
    """Click what opens another page, and wait until that page has run its
    scripts: a button clicked before them would do nothing."""
    locator.click(**click)
    locator.page.wait_for_load_state("load")


def eventually(condition, *, timeout_s: float = TIMEOUT_MS / 1000):
    """Poll the database (or anything) until `condition()` is truthy; returns it."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)
