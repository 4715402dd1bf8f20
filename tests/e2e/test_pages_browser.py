"""The transparency page and the camera registry page in a real headless browser (Debian's chromium,
driven by playwright) over a real ``alpr console`` on the embedded broker, with the sample sensitive
sites. Screenshots are saved under ``test-artifacts/``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from streams.access.directory import DirectoryStore
from streams.cameras.registry import Camera, CameraStore
from tests.e2e.test_console_browser import ARTIFACTS, in_thread, page, sign_in  # noqa: F401 - fixtures
from tests.integration.kafka_helpers import SignInUser, add_user, read_topic
from tests.integration.test_camera_cli import AIRPORT, SAMPLE
from tests.integration.test_console_cameras import SOUTH_OF_CLINIC, running_console
from tests.integration.test_transparency import MEMO_C

pytestmark = pytest.mark.e2e

CLINIC = "Example Family Health Clinic (fictional) (reproductive health care facility)"


@pytest.fixture(scope="module")
def stack(broker, tmp_path_factory):
    """A console on fresh topics, with two cameras registered before any page is opened."""
    with running_console(
        broker, tmp_path_factory.mktemp("pages"), ALPR_SENSITIVE_SITES=str(SAMPLE)
    ) as running:
        yield running


@pytest.fixture(scope="module")
def people(stack) -> dict[str, SignInUser]:
    settings = stack[1]

    async def make() -> dict[str, SignInUser]:
        ada = await add_user(settings, "ada", "administrator", display="Admin Ada", badge="A-1")
        lee = await add_user(settings, "lee", "dispatcher", display="Dispatcher Lee", badge="D-101")
        user = (await DirectoryStore(settings).load()).user("ada").principal()
        store, now = CameraStore(settings), datetime.now(UTC)
        await store.add(Camera("pre-fixed", "Airport Blvd", "SJPD", "fixed", *AIRPORT, 90.0), user, now)
        await store.add(Camera("pre-mobile", "Patrol car 7", "SJPD", "mobile", *AIRPORT), user, now)
        return {"ada": ada, "lee": lee}

    return in_thread(make())


def url(env, path: str) -> str:
    return f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}{path}"


def active_cameras(settings) -> int:
    return len(in_thread(CameraStore(settings).load()).listed())


def camera_audit(settings) -> list[tuple[str, str, str]]:
    records = [json.loads(r.value) for r in in_thread(read_topic(settings.kafka, settings.topic("audit")))]
    return [
        (a["user"], a["action"], a["query"]["registered_camera"])
        for a in records
        if a["action"].startswith("camera_")
    ]


def test_anyone_sees_the_transparency_page_without_signing_in(stack, people, page) -> None:  # noqa: F811
    """Issue 9 item 6: the public page opens without a sign-in (not sent to /login), shows the number
    of active cameras, the retention of reads (P11), alerts (P13) and the audit trail (P14), and the
    San José memo's statement on SB 54 and SB 34 with its source (P19); nothing on it is a plate."""
    env, settings, _root = stack
    expected = active_cameras(settings)
    assert expected == 2
    deadline = time.monotonic() + 15
    page.goto(url(env, "/transparency"))
    while page.inner_text("#camera-count") != str(expected) and time.monotonic() < deadline:
        time.sleep(1)  # the figures are re-read at most every few seconds
        page.reload()
    assert page.url.endswith("/transparency")
    assert page.inner_text("#camera-count") == "2"
    assert page.inner_text("#camera-fixed") == "1" and page.inner_text("#camera-mobile") == "1"
    assert page.inner_text("#read-retention") == "30 days, then deleted (P11)"
    assert page.inner_text("#alert-retention") == "30 days (P13)"
    assert page.inner_text("#audit-retention") == "731 days (P14)"
    assert page.inner_text("#statement") == MEMO_C
    assert "recommendation (c)" in page.inner_text("#statement-source")
    assert page.locator("#t-statement a[href*='SB54']").count() == 1
    assert page.locator("#t-statement a[href*='SB34']").count() == 1
    # the stylesheet applied (the CSP allows only 'self'): the count is shown large and bold
    assert page.eval_on_selector("#camera-count", "e => getComputedStyle(e).fontWeight") == "700"
    page.screenshot(path=str(ARTIFACTS / "transparency.png"), full_page=True)


def sign_in_to_cameras(tab, env, user: SignInUser) -> None:
    """Password and authenticator code (P18); an administrator lands on their home, then opens the
    camera registry."""
    tab.goto(url(env, "/cameras"))
    assert tab.url.endswith("/login")  # not signed in: sent to the sign-in page
    tab.fill("#user", user.name)
    tab.fill("#password", user.password)
    tab.fill("#code", user.fresh_code())  # a code signs in once, system-wide
    tab.click("#sign-in")
    tab.wait_for_url("**/home")
    tab.goto(url(env, "/cameras"))
    tab.wait_for_selector("body[data-ready='true']")
    assert user.display in tab.inner_text("#who")


def test_an_administrator_adds_a_camera_sees_a_p24_refusal_and_retires_a_camera(stack, people, page) -> None:  # noqa: F811
    """Issue 9 item 1 in the browser (P21, P24): the administrator adds a fixed camera from the form
    and sees it listed with its ingest key shown once, then turns it round; a camera 80 m from a
    reproductive health care facility, facing it, is refused with the site and distance on the page
    and is neither listed nor written; retiring a camera (confirmed) leaves it listed as retired.
    Each change is on the audit trail in the administrator's name."""
    env, settings, _root = stack
    sign_in_to_cameras(page, env, people["ada"])
    assert page.locator("tr.camera-row").count() == 2  # the cameras registered before

    page.fill("#c-id", "cam-e2e-1")
    page.fill("#c-name", "Airport Blvd at Skyport")
    page.select_option("#c-agency", "SJPD")
    page.select_option("#c-kind", "fixed")
    page.fill("#c-lat", repr(AIRPORT[0] + 0.002))
    page.fill("#c-lon", repr(AIRPORT[1]))
    page.fill("#c-facing", "90")
    page.fill("#c-installed", "2026-03-01")
    page.click("#add-camera")
    page.wait_for_selector("#camera-message.ok")
    assert page.inner_text("#camera-message") == "Added camera cam-e2e-1 (fixed, Airport Blvd at Skyport)"
    row = page.locator("tr.camera-row[data-id='cam-e2e-1']")
    row.wait_for()
    assert "Airport Blvd at Skyport" in row.inner_text() and "2026-03-01" in row.inner_text()
    assert page.is_visible("#ingest-key")
    assert page.inner_text("#ingest-key-value").startswith("alprck_cam-e2e-1.")
    page.screenshot(path=str(ARTIFACTS / "cameras-added.png"), full_page=True)

    page.fill("#c-id", "cam-e2e-2")
    page.fill("#c-name", "Facing the clinic")
    page.fill("#c-lat", repr(SOUTH_OF_CLINIC[0]))
    page.fill("#c-lon", repr(SOUTH_OF_CLINIC[1]))
    page.fill("#c-facing", "0")
    page.click("#add-camera")
    page.wait_for_selector("#camera-message.error")
    assert page.inner_text("#camera-message") == (
        f"Refused: camera cam-e2e-2 would be 80 m from {CLINIC}, facing it (P24)"
    )
    assert page.is_hidden("#ingest-key")  # the earlier key was shown once
    assert page.locator("tr.camera-row[data-id='cam-e2e-2']").count() == 0
    page.screenshot(path=str(ARTIFACTS / "cameras-p24-refused.png"), full_page=True)
    assert "cam-e2e-2" not in in_thread(CameraStore(settings).load()).cameras

    page.click("tr.camera-row[data-id='cam-e2e-1'] button.edit")  # turn it round: checked again (P24)
    assert page.is_disabled("#c-id") and page.input_value("#c-lat") == repr(AIRPORT[0] + 0.002)
    page.fill("#c-facing", "270")
    page.click("#save-camera")
    page.wait_for_selector("#camera-message.ok:has-text('Changed camera cam-e2e-1')")
    assert page.inner_text("#camera-message") == "Changed camera cam-e2e-1: facing_deg 90 → 270"
    assert "270°" in row.inner_text()

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("tr.camera-row[data-id='pre-mobile'] button.retire")
    page.wait_for_selector("#camera-message.ok:has-text('Retired camera pre-mobile')")
    page.locator("tr.camera-row[data-id='pre-mobile']").wait_for(state="detached")  # active ones only
    page.check("#show-retired")
    assert "retired 20" in page.inner_text("tr.camera-row[data-id='pre-mobile']")
    assert page.inner_text("#camera-summary") == "2 active, 1 retired"
    page.screenshot(path=str(ARTIFACTS / "cameras-retired.png"), full_page=True)
    assert camera_audit(settings)[-3:] == [
        ("ada", "camera_add", "cam-e2e-1"),
        ("ada", "camera_update", "cam-e2e-1"),
        ("ada", "camera_retire", "pre-mobile"),
    ]


def test_a_dispatcher_is_told_the_camera_registry_is_for_administrators_p21(stack, people, page) -> None:  # noqa: F811
    """P21: a signed-in dispatcher who opens /cameras gets a 403 page saying why, and no form."""
    env, _settings, _root = stack
    sign_in(page, env, people["lee"])
    response = page.goto(url(env, "/cameras"))
    assert response is not None and response.status == 403
    assert "P21: the dispatcher role may not administer cameras" in page.inner_text("#page-message")
    assert page.locator("#camera-form").count() == 0
    page.screenshot(path=str(ARTIFACTS / "cameras-forbidden.png"), full_page=True)
