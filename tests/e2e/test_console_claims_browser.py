"""Who works an alert (issue 18, item 4), in real headless browsers over a real worker and console
on the embedded broker: two dispatchers signed in at once. Ann clicks "Work this alert"; Lee's queue
row says "being worked by Dispatcher Ann (badge D-102) since ..." without a reload (the live queue
pushes it); Lee's alert view offers "Take over", saying who holds it and since when; Lee takes it
over and Ann's console shows it live, with the take-over in the history under both names; Lee
releases it and Ann may work it again. The claims are events on the alerts topic (P15: each one
audited by the use case).

Desktop and 390 px screenshots are saved under ``test-artifacts/``.
"""

from __future__ import annotations

import pytest

from tests.e2e import test_console_queue_browser as queue
from tests.e2e.test_console_browser import ARTIFACTS, in_thread, produce, sign_in
from tests.integration.kafka_helpers import read_topic
from tests.integration.test_console import sync_rows

pytestmark = pytest.mark.e2e

stack, dispatchers, browser = queue.stack, queue.dispatchers, queue.browser  # its module fixtures
listed, new_page = queue.listed, queue.new_page

PLATE = "7CLMB01"  # synthetic


def claim_events(settings, alert_id: str) -> list[tuple[str, str, str | None]]:
    import json

    records = in_thread(read_topic(settings.kafka, settings.topic("alerts")))
    values = [json.loads(r.value) for r in records]
    return [
        (v["event"], v["by"]["user"], (v.get("taken_from") or {}).get("user"))
        for v in values
        if v["alert_id"] == alert_id and v["event"] in ("AlertClaimed", "AlertReleased")
    ]


def test_two_dispatchers_see_who_works_an_alert_live_and_one_takes_it_over(
    stack, dispatchers, browser
) -> None:
    env, settings, root = stack
    in_thread(sync_rows(settings, root, listed(PLATE, 621)))
    ann, lee = new_page(browser), new_page(browser)
    sign_in(ann, env, dispatchers["ann"])
    sign_in(lee, env, dispatchers["lee"])
    produce(settings, "claims-1", PLATE, "cq-curtner")
    ann_row = ann.locator("#queue .alert-row", has_text=PLATE)
    ann_row.wait_for(timeout=10_000)
    alert_id = ann_row.get_attribute("data-alert-id")
    lee_row = lee.locator(f"#queue .alert-row[data-alert-id='{alert_id}']")
    lee_row.wait_for(timeout=10_000)
    assert "being worked by" not in lee_row.inner_text()

    # Ann works it
    ann_row.click()
    ann.wait_for_selector(f"#detail[data-alert-id='{alert_id}']")
    assert "Nobody is working this alert." in ann.inner_text("#d-claim")
    ann.click("#claim-work")
    ann.wait_for_selector("#claim-release")
    assert "being worked by you, Dispatcher Ann (badge D-102) since " in ann.inner_text("#d-claim")

    # Lee's console is told without a reload: the row, then the alert view with the take-over form
    lee.wait_for_function(
        "id => (document.querySelector(`#queue .alert-row[data-alert-id='${id}'] .claim`) || {}).textContent"
        "?.startsWith('being worked by Dispatcher Ann (badge D-102) since ')",
        arg=alert_id,
        timeout=5_000,
    )
    lee_row.click()
    lee.wait_for_selector("#claim-take-over")
    offer = lee.inner_text("#claim-take-over-form")
    assert "Take over from Dispatcher Ann (badge D-102), working it since " in offer
    assert "recorded with both names" in offer
    assert lee.locator("#claim-work").count() == 0  # not without the warning: her claim is fresh
    lee.screenshot(path=str(ARTIFACTS / "console-claims-take-over-desktop.png"), full_page=True)

    lee.click("#claim-take-over")
    lee.wait_for_selector("#claim-release")
    mine = lee.inner_text("#d-claim")
    assert (
        "being worked by you, Dispatcher Lee (badge D-101)" in mine
        and "taken over from Dispatcher Ann" in mine
    )
    assert "Claimed by Dispatcher Lee (D-101) · taken over from Dispatcher Ann (D-102)" in lee.inner_text(
        "#d-history"
    )
    lee.screenshot(path=str(ARTIFACTS / "console-claims-desktop.png"), full_page=True)

    # Ann's open alert view follows live: Lee works it now, and she is offered the take-over
    ann.wait_for_selector("#claim-take-over", timeout=5_000)
    assert "being worked by Dispatcher Lee (badge D-101)" in ann.inner_text("#d-claim")
    assert "being worked by Dispatcher Lee (badge D-101)" in ann_row.inner_text()

    narrow = new_page(browser, 390, 844)
    narrow.context.add_cookies(ann.context.cookies())
    narrow.goto(f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}/")
    narrow_row = narrow.locator(f"#queue .alert-row[data-alert-id='{alert_id}']")
    narrow_row.wait_for(timeout=10_000)
    narrow_row.click()
    narrow.wait_for_selector("#claim-take-over")
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 390  # nothing cut off sideways
    narrow.screenshot(path=str(ARTIFACTS / "console-claims-390.png"), full_page=True)

    # Lee releases it: Ann may work it again, without a reload
    lee.click("#claim-release")
    lee.wait_for_selector("#claim-work")
    ann.wait_for_selector("#claim-work", timeout=5_000)
    assert "Nobody is working this alert." in ann.inner_text("#d-claim")
    assert claim_events(settings, alert_id) == [
        ("AlertClaimed", "Dispatcher Ann", None),
        ("AlertClaimed", "Dispatcher Lee", "Dispatcher Ann"),
        ("AlertReleased", "Dispatcher Lee", None),
    ]


def test_the_closed_tab_pages_with_older_and_searches_beyond_the_pages_loaded(
    stack, dispatchers, browser
) -> None:
    """The Closed tab loads a page at a time, newest closing first, and "Older closed alerts" loads
    the next; a search finds an alert on a page not loaded yet (the server searches every closed
    alert). The page size is 50: the browser's requests are rewritten to ask for 2, so three
    closed alerts make two pages."""
    env, settings, root = stack
    plates = ["7PGB001", "7PGB002", "7PGB003"]  # synthetic
    in_thread(
        sync_rows(
            settings,
            root,
            [*listed(plates[0], 631), *(listed(p, 632 + i)[-1] for i, p in enumerate(plates[1:]))],
        )
    )
    page = new_page(browser)
    sign_in(page, env, dispatchers["mo"])
    ids = []
    for n, plate in enumerate(plates):
        produce(settings, f"closed-page-{n}", plate, "cq-story")
        row = page.locator("#queue .alert-row", has_text=plate)
        row.wait_for(timeout=10_000)
        ids.append(row.get_attribute("data-alert-id"))
        url = f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}/api/alerts/{ids[-1]}/transitions"
        answer = page.request.post(url, data={"action": "reject", "reason": "misread", "note": ""})
        assert answer.ok, answer.text()
    asked: list[str] = []

    def small_pages(route) -> None:
        asked.append(route.request.url)
        route.continue_(url=route.request.url.replace("limit=50", "limit=2"))

    page.route("**/api/alerts?state=closed*", small_pages)
    page.click("#tab-closed")
    page.wait_for_selector("#closed-older:visible")
    shown = page.eval_on_selector_all("#closed-list .alert-row", "rows => rows.map(r => r.dataset.alertId)")
    assert shown == ids[::-1][:2]
    page.click("#closed-older")
    page.wait_for_selector("#closed-older", state="hidden")
    shown = page.eval_on_selector_all("#closed-list .alert-row", "rows => rows.map(r => r.dataset.alertId)")
    assert shown == ids[::-1] and f"older={ids[1]}" in asked[-1]
    page.screenshot(path=str(ARTIFACTS / "console-closed-pages-desktop.png"), full_page=True)

    # a fresh page: only the newest two loaded; the search still finds the oldest, from the server
    page.reload()
    page.click("#tab-closed")
    page.wait_for_selector("#closed-older:visible")
    page.fill("#closed-search", plates[0].lower())
    page.wait_for_selector(f"#closed-list .alert-row[data-alert-id='{ids[0]}']", timeout=5_000)
    assert page.inner_text("#closed-count") == "1" and "q=7pgb001" in asked[-1]
