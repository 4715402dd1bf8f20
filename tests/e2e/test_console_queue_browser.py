"""The queue and the alert view as a dispatcher uses them (issue 18, items 3 and 4), in a real
headless browser over a real worker and console on the embedded broker: "last seen ... at <camera
name>" with full dates, NCIC vehicle codes in words (P7: the description compared with the
vehicle), a half-typed note and a ticked box that survive a sighting arriving, and a step overtaken
by another dispatcher's that says who acted and when (HTTP 409, nothing of the second person's
written).

Desktop and 390 px screenshots are saved under ``test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.test_console_browser import ARTIFACTS, CHROMIUM, in_thread, lifecycle_events, produce, sign_in
from tests.factories import make_entry
from tests.integration.kafka_helpers import SignInUser, add_user, admin_principal, ensure_home, running_worker
from tests.integration.probes import worker_follows
from tests.integration.test_console import NCIC_ROWS, sync_rows
from tests.integration.test_stream import write_feed

pytestmark = pytest.mark.e2e

#: Cameras as the registry names them: the page shows the names, with the ids beside them.
CAMERAS = {"cq-curtner": "Curtner Ave at Monterey Rd", "cq-story": "Story Rd at King Rd"}


def listed(plate: str, n: int) -> list[str]:
    """The sample NCIC rows and a stolen black Toyota Tacoma-coded 4-door with this plate (synthetic)."""
    return [
        *NCIC_ROWS[:4],
        f"V|V80000{n:04d}|CA0431000|{plate}|CA|2027|PC||2016|TOYT|TAC|4D|BLK|SJ-26-{n:04d}|",
    ]


async def register_named_cameras(settings) -> None:
    from streams.cameras.registry import Camera, CameraStore

    await ensure_home(settings)
    store = CameraStore(settings)
    known = (await store.load()).cameras
    fresh = [
        Camera(i, name, "SJPD", "mobile", 37.31, -121.86) for i, name in CAMERAS.items() if i not in known
    ]
    if fresh:
        await store.add_many(fresh, admin_principal(), datetime.now(UTC))


async def sync_svs(settings, root: Path, plate: str, refreshed: list[datetime]) -> None:
    """An SVS entry for ``plate``, synced from extracts as of each of these times in turn."""
    from streams.hotlists.service import HotlistStore

    async with HotlistStore(settings) as store:
        for n, as_of in enumerate(refreshed):
            entry = make_entry(source="svs", entry_id=f"S-{plate}", plate=plate, synced_at=as_of)
            await store.sync("ndjson", write_feed(root / f"svs-{plate}-{n}.ndjson", [entry]), "svs", as_of)
    await worker_follows(settings, ["hotlist", "hotlist-sources"])


@pytest.fixture(scope="module")
def stack(broker, tmp_path_factory):
    root = tmp_path_factory.mktemp("queue-browser")
    with running_worker(broker, root, console=True) as running:
        in_thread(register_named_cameras(running[1]))
        yield running


@pytest.fixture(scope="module")
def dispatchers(stack) -> dict[str, SignInUser]:
    async def make() -> dict[str, SignInUser]:
        settings = stack[1]
        return {
            "lee": await add_user(settings, "qlee", "dispatcher", display="Dispatcher Lee", badge="D-101"),
            "ann": await add_user(settings, "qann", "dispatcher", display="Dispatcher Ann", badge="D-102"),
            "mo": await add_user(settings, "qmo", "dispatcher", display="Dispatcher Mo", badge="D-104"),
        }

    return in_thread(make())


@pytest.fixture()
def browser(stack) -> Iterator:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "chromium is missing: 'make test' installs it (apt-get install chromium)"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            yield launched
        finally:
            launched.close()


def new_page(browser, width: int = 1400, height: int = 1000):
    return browser.new_context(
        viewport={"width": width, "height": height}, timezone_id="America/Los_Angeles"
    ).new_page()


def test_a_typed_note_survives_a_sighting_and_the_queue_says_where_the_vehicle_was_last_seen(
    stack, dispatchers, browser
) -> None:
    env, settings, root = stack
    in_thread(sync_rows(settings, root, listed("7QUEU01", 601)))
    page = new_page(browser)
    sign_in(page, env, dispatchers["lee"])
    produce(settings, "queue-1", "7QUEU01", "cq-curtner")
    row = page.locator(".alert-row", has_text="7QUEU01")
    row.wait_for(timeout=5_000)
    text = row.inner_text()
    assert "last seen" in text and "ago at Curtner Ave at Monterey Rd (cq-curtner)" in text
    year = str(datetime.now(UTC).year)
    assert year in page.inner_text(
        ".alert-row:has-text('7QUEU01') .read-at"
    )  # a full date, not a time of day
    assert "HISTORICAL" not in text  # a live read is not marked historical

    row.click()
    page.wait_for_selector("#detail[data-status='unverified']")
    entry = page.inner_text("#d-entry")
    assert "Toyota (TOYT)" in entry and "black (BLK)" in entry and "4-door sedan (4D)" in entry
    assert "Curtner Ave at Monterey Rd (cq-curtner)" in page.inner_text("#d-read")
    page.wait_for_selector("#evidence[data-shown='read-text']")

    # half-typed: a note and a ticked box in the verify form, a note in the reject form, focus kept
    page.fill("#form-reject input[name=note]", "plate frame hides the last")
    page.check("#form-verify input[name=characters_match]")
    page.fill("#form-verify input[name=note]", "characters match, checking the st")
    assert page.evaluate("document.activeElement.closest('form').id") == "form-verify"

    produce(settings, "queue-1b", "7QUEU01", "cq-story")  # the vehicle is seen again, elsewhere
    page.wait_for_selector("#d-last-seen:has-text('Story Rd at King Rd (cq-story)')")
    page.wait_for_selector("#d-sightings li:has-text('Story Rd at King Rd')")
    assert "ago at Story Rd at King Rd (cq-story)" in row.inner_text()
    assert page.input_value("#form-verify input[name=note]") == "characters match, checking the st"
    assert page.is_checked("#form-verify input[name=characters_match]")
    assert page.input_value("#form-reject input[name=note]") == "plate frame hides the last"
    assert page.evaluate("document.activeElement.name") == "note"
    assert page.evaluate("document.activeElement.closest('form').id") == "form-verify"
    page.keyboard.type("ate")  # typing goes on where it was
    assert page.input_value("#form-verify input[name=note]") == "characters match, checking the state"
    page.screenshot(path=str(ARTIFACTS / "console-queue-desktop.png"), full_page=True)

    narrow = new_page(browser, 390, 844)
    narrow.context.add_cookies(page.context.cookies())
    narrow.goto(f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}/")
    narrow.locator(".alert-row", has_text="7QUEU01").click()
    narrow.wait_for_selector("#detail[data-status='unverified']")
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 390  # nothing cut off sideways
    assert narrow.evaluate("document.getElementById('queue-pane').getBoundingClientRect().right") <= 390
    narrow.screenshot(path=str(ARTIFACTS / "console-queue-390.png"), full_page=True)
    assert lifecycle_events(settings, "7QUEU01") == ["AlertSighted"]  # nothing but the sighting written


def test_a_step_overtaken_by_another_dispatchers_says_who_acted_and_when(stack, dispatchers, browser) -> None:
    """Ann rejects while Mo's page still shows the alert unverified: Mo's verification is refused
    (409) naming Ann, her badge and the time, and nothing of Mo's is written."""
    env, settings, root = stack
    in_thread(sync_rows(settings, root, listed("7QUEU02", 602)))
    ann, mo = new_page(browser), new_page(browser)
    sign_in(ann, env, dispatchers["ann"])
    sign_in(mo, env, dispatchers["mo"])
    produce(settings, "queue-2", "7QUEU02", "cq-story")
    for page in (ann, mo):
        page.locator(".alert-row", has_text="7QUEU02").click()
        page.wait_for_selector("#detail[data-status='unverified']")
    mo.wait_for_selector("#evidence[data-shown='read-text']")
    # Mo's page keeps showing the alert as it was (its refresh of the alert held back), as when two
    # people act within the same moment
    mo.route("**/api/alerts/*", lambda route: route.abort())

    ann.select_option("#form-reject select[name=reason]", "misread")
    ann.fill("#form-reject input[name=note]", "last character is an 8 on the read")
    ann.click("#action-reject")
    ann.wait_for_selector("#detail[data-status='rejected']")

    mo.check("#form-verify input[name=characters_match]")
    mo.check("#form-verify input[name=state_match]")
    mo.click("#action-verify")
    mo.wait_for_selector("#message.error")
    message = mo.inner_text("#message")
    assert "already rejected (misread) by Dispatcher Ann (badge D-102) at " in message, message
    assert datetime.now(UTC).strftime("%Y-%m-%d") in message and "UTC" in message
    mo.screenshot(path=str(ARTIFACTS / "console-conflict.png"), full_page=True)
    mo.unroute("**/api/alerts/*")
    assert lifecycle_events(settings, "7QUEU02") == ["AlertRejected"]  # Mo's step was not written


def test_what_is_typed_in_a_form_that_remains_survives_another_persons_step(
    stack, dispatchers, browser
) -> None:
    """Lee is typing a rejection note when Ann verifies the alert: Lee's page moves to Tentative
    Hit (new forms), and the reject form, still offered, keeps Lee's reason and note."""
    env, settings, root = stack
    in_thread(sync_rows(settings, root, listed("7QUEU03", 603)))
    lee, ann = new_page(browser), new_page(browser)
    sign_in(lee, env, dispatchers["lee"])
    sign_in(ann, env, dispatchers["ann"])
    produce(settings, "queue-3", "7QUEU03", "cq-curtner")
    for page in (lee, ann):
        page.locator(".alert-row", has_text="7QUEU03").click()
        page.wait_for_selector("#detail[data-status='unverified']")
    lee.select_option("#form-reject select[name=reason]", "wrong_state")
    lee.fill("#form-reject input[name=note]", "state on the read looks like NV, checki")

    ann.wait_for_selector("#evidence[data-shown='read-text']")
    ann.check("#form-verify input[name=characters_match]")
    ann.check("#form-verify input[name=state_match]")
    ann.click("#action-verify")
    ann.wait_for_selector("#detail[data-status='tentative_hit']")

    lee.wait_for_selector("#detail[data-status='tentative_hit']")  # pushed, no reload
    lee.wait_for_selector("#form-validate")
    assert lee.input_value("#form-reject input[name=note]") == "state on the read looks like NV, checki"
    assert lee.input_value("#form-reject select[name=reason]") == "wrong_state"
    assert lee.evaluate(
        "document.activeElement.closest('form') && document.activeElement.closest('form').id"
    ) == ("form-reject")
    assert "Dispatcher Ann (D-102)" in lee.inner_text("#d-history")
    assert lifecycle_events(settings, "7QUEU03") == ["AlertVisuallyVerified"]


def test_a_read_captured_days_before_it_arrived_is_marked_historical_in_the_queue_and_the_view(
    stack, dispatchers, browser
) -> None:
    """A read that reaches the system 11 days after its capture (a camera that was offline) is
    screened like any other, but the dispatcher must not take it for where the vehicle is now: the
    queue row and the alert view say HISTORICAL READ and how old it was, with its full date."""
    env, settings, root = stack
    captured = datetime.now(UTC) - timedelta(days=11, minutes=5)
    # The SVS list was fresh when the read was captured (P4 is judged as of the capture) and is now.
    in_thread(sync_svs(settings, root, "7HIST01", [captured - timedelta(hours=2), datetime.now(UTC)]))
    page = new_page(browser)
    sign_in(page, env, dispatchers["mo"])
    produce(settings, "queue-hist", "7HIST01", "cq-story", captured_at=captured.isoformat())
    row = page.locator(".alert-row", has_text="7HIST01")
    row.wait_for(timeout=10_000)
    assert "HISTORICAL READ: captured 11 days before it arrived" in row.inner_text()
    row.click()
    page.wait_for_selector("#detail[data-status='unverified']")
    assert page.is_visible("#d-historical")
    assert "HISTORICAL READ: captured 11 days before it arrived" in page.inner_text("#d-historical")
    local = captured.astimezone(ZoneInfo("America/Los_Angeles"))
    assert f"{local:%Y}" in page.inner_text("#d-read") and local.strftime("%b") in page.inner_text("#d-read")
    page.screenshot(path=str(ARTIFACTS / "console-historical-desktop.png"), full_page=True)

    narrow = new_page(browser, 390, 844)
    narrow.context.add_cookies(page.context.cookies())
    narrow.goto(f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}/")
    narrow.locator(".alert-row", has_text="7HIST01").click()
    narrow.wait_for_selector("#d-historical:has-text('HISTORICAL READ')")
    narrow.screenshot(path=str(ARTIFACTS / "console-historical-390.png"), full_page=True)
