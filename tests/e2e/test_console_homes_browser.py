"""Every role has a home (issue 18, item 6), in a real headless browser over a real ``alpr console``
on the embedded broker.

An administrator opening ``/`` lands on a home of the links their role may use (no alert queue, no
endless "reconnecting"), adds a user (the authenticator secret shown once) and a sensitive site in
front of a fixed camera, which the page says is suspended (P24). A lieutenant sees "Approvals (3)"
in the nav, is refused approving their own entry with the reason (P2), approves another member's
and rejects a third with a note (refused without one). An auditor lands on their home and verifies
the audit chain (P14).

Desktop (1280 px) and 390 px screenshots of each page are saved under ``test-artifacts/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.e2e.test_console_browser import ARTIFACTS, CHROMIUM, in_thread
from tests.integration.kafka_helpers import SignInUser, add_user, admin_principal
from tests.integration.test_camera_cli import AIRPORT, SAMPLE
from tests.integration.test_console_admin import EAST_OF_AIRPORT
from tests.integration.test_console_cameras import running_console
from tests.integration.test_console_roles import add_member, propose

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def console(broker, tmp_path_factory):
    root = tmp_path_factory.mktemp("homes-browser")
    sites = root / "sensitive-sites.geojson"
    shutil.copyfile(SAMPLE, sites)
    with running_console(broker, root, ALPR_SENSITIVE_SITES=str(sites)) as (env, settings, _root):
        yield env, settings


@pytest.fixture(scope="module")
def people(console) -> dict[str, SignInUser]:
    settings = console[1]

    async def make() -> dict[str, SignInUser]:
        return {
            "ada": await add_user(settings, "hada", "administrator", display="Admin Ada", badge="A-1"),
            "aud": await add_user(settings, "haud", "auditor", display="Auditor Ray", badge="X-3"),
            "ofc": await add_member(settings, "hofc", "officer", "officer", "O-21", "Officer Pat Reyes"),
            "lt1": await add_member(settings, "hlt1", "lieutenant", "lieutenant", "L-5", "Lt. Dana Cho"),
        }

    return in_thread(make())


@pytest.fixture()
def browser(console) -> Iterator:
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


def url(env, path: str) -> str:
    return f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}{path}"


def sign_in(browser, env, user: SignInUser, lands_on: str):
    """A page of a new browser context, signed in (password and a fresh code, P18)."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(url(env, "/"))
    assert page.url.endswith("/login")
    page.fill("#user", user.name)
    page.fill("#password", user.password)
    page.fill("#code", user.fresh_code())
    page.click("#sign-in")
    page.wait_for_url(f"**{lands_on}")
    page.wait_for_selector("body[data-nav='ready']")
    return page


def shots(page, name: str) -> None:
    """Desktop and 390 px screenshots; at 390 px nothing is cut off sideways."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("() => document.documentElement.clientWidth === 390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 392)"
        ".slice(0, 8).map(e => e.tagName + '#' + e.id + ' ' + e.getBoundingClientRect().right)"
    )  # the elements that stick out, when something does
    page.screenshot(path=str(ARTIFACTS / f"{name}-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def nav(page) -> list[str]:
    return page.eval_on_selector_all("nav.role-nav a", "links => links.map(a => a.textContent)")


def test_an_administrator_has_a_home_and_adds_a_user_and_a_sensitive_site(console, people, browser) -> None:
    env, settings = console
    from streams.cameras.registry import Camera, CameraStore

    fixed = Camera("cam-homes-e", "Airport Blvd EB", "SJPD", "fixed", AIRPORT[0], AIRPORT[1], 90.0)
    in_thread(CameraStore(settings).add(fixed, admin_principal(), datetime.now(UTC)))
    page = sign_in(browser, env, people["ada"], "/home")  # no alert queue: the role's home
    assert "Home" in nav(page) and "Users, agencies & sites" in nav(page)

    page.goto(url(env, "/"))  # the alert console's address: an administrator has no alert queue
    page.wait_for_url("**/home")
    page.wait_for_selector("#home-links li")
    links = page.eval_on_selector_all("#home-links a", "links => links.map(a => a.textContent)")
    assert {"Cameras", "Users, agencies & sites", "Transparency", "Policy"} <= set(links), links
    assert "Alerts" not in links and "Audit" not in links and "Approvals" not in " ".join(links)
    assert "reconnecting" not in page.inner_text("body")
    assert page.inner_text("#home-role") == "administrator"
    shots(page, "homes-administrator")

    page.click("nav.role-nav a:has-text('Users, agencies & sites')")
    page.wait_for_url("**/admin")
    page.wait_for_selector("body[data-ready='true']")
    page.fill("#u-name", "hnew")
    page.fill("#u-display", "Officer New")
    page.fill("#u-badge", "O-88")
    page.select_option("#u-role", "officer")
    page.fill("#u-rank", "officer")
    page.fill("#u-assignment", "Patrol Division")
    page.fill("#u-password", "a-long-enough-password")
    page.fill("#u-course", "ALPR user training")
    page.fill("#u-completed", "2026-11-02")
    page.click("#add-user")
    page.wait_for_selector("#user-message.ok:has-text('Added hnew (officer, SJPD, badge O-88)')")
    assert page.is_visible("#enrol") and len(page.inner_text("#enrol-secret")) >= 16
    assert page.input_value("#u-password") == ""  # the password is not kept on the page
    assert "ALPR user training 2026-11-02" in page.inner_text("tr.user-row[data-name='hnew']")

    assert "suspends every fixed camera" in page.inner_text("#sites-rule")
    page.fill("#s-id", "site-homes-1")
    page.fill("#s-name", "Airport Chapel (fictional)")
    page.select_option("#s-category", "religious_observance")
    page.fill("#s-lat", str(EAST_OF_AIRPORT[0]))
    page.fill("#s-lon", str(EAST_OF_AIRPORT[1]))
    page.click("#add-site")
    message = page.wait_for_selector("#site-message.ok:has-text('Added site site-homes-1')")
    assert "Suspended: camera cam-homes-e (Airport Blvd EB)" in message.inner_text()
    page.wait_for_selector("tr.site-row[data-id='site-homes-1']")
    shots(page, "homes-admin-page")


def test_a_lieutenant_approves_or_rejects_another_members_entry_but_not_their_own(
    console, people, browser
) -> None:
    """P2: the lieutenant's own entry is refused with the reason; another member's is approved; a
    third is rejected only with a note that says why (an empty one is refused and the entry stays),
    and leaves the queue."""
    env, settings = console
    other = in_thread(propose(settings, "hofc", "HOME-1", "7HOME01"))
    own = in_thread(propose(settings, "hlt1", "HOME-2", "7HOME02"))
    doubtful = in_thread(propose(settings, "hofc", "HOME-3", "7HOME03"))
    page = sign_in(browser, env, people["lt1"], "/")
    page.wait_for_selector("#live-status:has-text('live')")  # a lieutenant's home is the alert queue
    page.wait_for_selector("nav.role-nav a:has-text('Approvals (3)')")
    page.click("nav.role-nav a:has-text('Approvals (3)')")
    page.wait_for_url("**/approvals")
    page.wait_for_selector("body[data-ready='true']")
    card = page.locator(f".entry[data-key='{other}']")
    text = card.inner_text()
    assert "Officer Pat Reyes, badge O-21" in text and "Patrol Division, District 4" in text
    assert "SJ-26-004512" in text and "PC 211 robbery" in text
    shots(page, "homes-approvals")

    page.click(f".entry[data-key='{own}'] button.approve")
    page.wait_for_selector("#approval-message.error:has-text('cannot approve their own entry')")
    page.click(f".entry[data-key='{other}'] button.approve")
    page.wait_for_selector(f"#approval-message.ok:has-text('Approved {other} (7HOME01) as Lt. Dana Cho')")
    page.wait_for_selector(f".entry[data-key='{other}']", state="detached")
    page.wait_for_selector("nav.role-nav a:has-text('Approvals (2)')")

    card = page.locator(f".entry[data-key='{doubtful}']")
    card.locator("button.reject").click()  # no note: refused, the entry stays
    page.wait_for_selector("#approval-message.error:has-text('the rejection note (empty) says nothing')")
    assert card.count() == 1
    card.locator("input.reject-note").fill("duplicate of entry HOME-1 for the same vehicle")
    shots(page, "homes-approvals-reject")
    card.locator("button.reject").click()
    page.wait_for_selector(f"#approval-message.ok:has-text('Rejected {doubtful} (7HOME03) as Lt. Dana Cho')")
    page.wait_for_selector(f".entry[data-key='{doubtful}']", state="detached")
    page.wait_for_selector("nav.role-nav a:has-text('Approvals (1)')")
    assert page.locator(f".entry[data-key='{own}']").count() == 1


def test_an_auditor_lands_on_a_home_and_verifies_the_audit_chain(console, people, browser) -> None:
    env, _settings = console
    page = sign_in(browser, env, people["aud"], "/home")
    links = page.eval_on_selector_all("#home-links a", "links => links.map(a => a.textContent)")
    assert "Audit" in links and "Users, agencies & sites" in links and "Cameras" not in links
    shots(page, "homes-auditor")
    page.click("#home-links a:has-text('Audit')")
    page.wait_for_url("**/audit")
    page.wait_for_selector("body[data-ready='true']")
    page.click("#verify")
    page.wait_for_selector("#verify-verdict[data-intact='true']")
    assert page.inner_text("#verify-verdict") == "Audit trail intact"
    assert int(page.inner_text("#verify-records")) > 0
    shots(page, "homes-audit")
