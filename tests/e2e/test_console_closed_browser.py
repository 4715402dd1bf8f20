"""Closed alerts in the console (issue 18, item 4), in a real headless browser over a real worker
and console on the embedded broker: the "Closed" tab lists the rejected and dispositioned alerts of
the dispatcher's scope (P19), newest closing first, with who closed each one and how (P9); its
search box filters by plate, case number or outcome; a row opens the alert with its whole history
(who, badge, when, note). The list is a view like the open queue's and is audited (P15). The
route refuses a visitor who is not signed in and a role without ``alert.view`` (P21), showing no
plate and writing no view. A re-alert of the same plate and entry within 24 h of the earlier
one's closing says how it ended, by whom and when, and links to it.

Desktop and 390 px screenshots are saved under ``test-artifacts/``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e import test_console_queue_browser as queue
from tests.e2e.test_console_browser import ARTIFACTS, in_thread, produce, sign_in
from tests.integration.kafka_helpers import add_user, audit_records, wait_for_records
from tests.integration.test_console import sync_rows

pytestmark = pytest.mark.e2e

stack, dispatchers, browser = queue.stack, queue.dispatchers, queue.browser  # its module fixtures
listed, new_page = queue.listed, queue.new_page

REJECTED, RECOVERED = "7CLSD01", "7CLSD02"  # synthetic plates


def step(page, env, alert_id: str, body: dict) -> dict:
    """A person's step through the console's HTTP API with the page's session (the same use case
    the forms post to)."""
    url = f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}/api/alerts/{alert_id}/transitions"
    response = page.request.post(url, data=body)
    assert response.ok, response.text()
    return response.json()


def alert_id_of(page, plate: str) -> str:
    row = page.locator(".alert-row", has_text=plate)
    row.wait_for(timeout=10_000)
    return row.get_attribute("data-alert-id")


def test_closed_alerts_are_listed_newest_first_searchable_and_open_with_their_history_p9_p15(
    stack, dispatchers, browser
) -> None:
    env, settings, root = stack
    rows = listed(REJECTED, 611) + listed(RECOVERED, 612)[-1:]
    in_thread(sync_rows(settings, root, rows))
    lee, ann = new_page(browser), new_page(browser)
    sign_in(lee, env, dispatchers["lee"])
    sign_in(ann, env, dispatchers["ann"])
    produce(settings, "closed-1", REJECTED, "cq-curtner")
    produce(settings, "closed-2", RECOVERED, "cq-story")
    rejected_id, recovered_id = alert_id_of(lee, REJECTED), alert_id_of(lee, RECOVERED)

    # Lee rejects the first in the page; the second is worked to "vehicle recovered" (separate
    # validation: Lee verifies and validates, Ann confirms and records the disposition, P7/P8)
    lee.locator(".alert-row", has_text=REJECTED).click()
    lee.wait_for_selector("#detail[data-status='unverified']")
    lee.select_option("#form-reject select[name=reason]", "misread")
    lee.fill("#form-reject input[name=note]", "frame hides the last digit")
    lee.click("#action-reject")
    lee.wait_for_selector("#detail[data-status='rejected']")
    verify = {
        "action": "verify",
        "evidence_shown": "read-text",
        "characters_match": True,
        "state_match": True,
    }
    step(lee, env, recovered_id, {**verify, "acknowledged": [], "note": ""})
    step(lee, env, recovered_id, {"action": "validate", "priority": "urgent", "note": ""})
    step(ann, env, recovered_id, {"action": "confirm", "confirming_agency": "CA0431000", "note": ""})
    done = step(
        ann, env, recovered_id,
        {"action": "disposition", "disposition": "vehicle_recovered", "note": "towed, owner told"},
    )  # fmt: skip
    assert done["status"] == "dispositioned"
    lee.locator("#queue .alert-row", has_text=RECOVERED).wait_for(state="detached", timeout=5_000)

    lee.click("#tab-closed")
    lee.wait_for_selector(f"#closed-list .alert-row[data-alert-id='{recovered_id}']")
    lee.wait_for_selector(f"#closed-list .alert-row[data-alert-id='{rejected_id}']")
    assert lee.is_hidden("#queue")  # the open queue's panel is behind its tab
    shown = lee.eval_on_selector_all("#closed-list .alert-row", "rows => rows.map(r => r.dataset.alertId)")
    assert shown.index(recovered_id) < shown.index(rejected_id)  # closed last, listed first
    recovered_row = lee.inner_text(f"#closed-list .alert-row[data-alert-id='{recovered_id}']")
    assert "vehicle recovered by Dispatcher Ann (D-102)" in recovered_row and "SJ-26-0612" in recovered_row
    assert "rejected: misread by Dispatcher Lee (D-101)" in lee.inner_text(
        f"#closed-list .alert-row[data-alert-id='{rejected_id}']"
    )

    # the search box: by case number, by outcome, by plate; nothing matching says so
    for query, plate in (("SJ-26-0611", REJECTED), ("recovered", RECOVERED), ("7clsd02", RECOVERED)):
        lee.fill("#closed-search", query)
        found = lee.locator("#closed-list .alert-row").all_inner_texts()
        assert len(found) == 1 and plate in found[0], (query, found)
    lee.fill("#closed-search", "no such outcome")
    lee.wait_for_selector("#closed-empty:visible")
    lee.fill("#closed-search", "SJ-26-061")
    assert lee.inner_text("#closed-count") == "2"

    # opening one shows every step with who (name, badge), when and the note; no form to act
    lee.click(f"#closed-list .alert-row[data-alert-id='{recovered_id}']")
    lee.wait_for_selector(f"#detail[data-alert-id='{recovered_id}'][data-status='dispositioned']")
    history = lee.locator("#d-history li").all_inner_texts()
    assert [h.split(" by ")[1].split(")")[0] + ")" for h in history] == [
        "Dispatcher Lee (D-101)",
        "Dispatcher Lee (D-101)",
        "Dispatcher Ann (D-102)",
        "Dispatcher Ann (D-102)",
    ]
    assert "vehicle_recovered" in history[-1] and "towed, owner told" in history[-1]
    assert lee.locator("#actions form").count() == 0
    lee.screenshot(path=str(ARTIFACTS / "console-closed-desktop.png"), full_page=True)

    narrow = new_page(browser, 390, 844)
    narrow.context.add_cookies(lee.context.cookies())
    narrow.goto(f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}/")
    narrow.click("#tab-closed")
    narrow.wait_for_selector(f"#closed-list .alert-row[data-alert-id='{rejected_id}']")
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 390  # nothing cut off sideways
    narrow.screenshot(path=str(ARTIFACTS / "console-closed-390.png"), full_page=True)

    # P15: the closed list is an audited view naming the alerts and plates shown
    def listed_closed(values: list[dict]) -> bool:
        return any(
            v["action"] == "alert_list" and v["user"] == dispatchers["lee"].name
            and v["query"].get("which") == "closed"
            and {rejected_id, recovered_id} <= set(v["query"]["alerts"])
            and RECOVERED in v["query"]["plates"]
            for v in values
        )  # fmt: skip

    in_thread(wait_for_records(settings.kafka, settings.topic("audit"), listed_closed))


def get(env, path: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_closed_list_refuses_nobody_signed_in_and_a_role_without_alert_view_p21(stack) -> None:
    """Not signed in: 401; an auditor (no ``alert.view``): 403 naming the rule. Neither answer
    carries a plate, and no view of alerts is written for them (nothing was shown)."""
    env, settings, _root = stack
    status, body = get(env, "/api/alerts?state=closed")
    assert status == 401 and "sign in" in body and "7CLSD" not in body

    auditor = in_thread(add_user(settings, "cauditor", "auditor", display="Auditor Ng", badge="AU-3"))
    sign = urllib.request.Request(
        f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}/api/session",
        data=json.dumps(
            {"user": auditor.name, "password": auditor.password, "code": auditor.fresh_code()}
        ).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(sign, timeout=10) as response:
        token = json.loads(response.read())["token"]
    status, body = get(env, "/api/alerts?state=closed", token)
    assert status == 403 and "P21" in body and "7CLSD" not in body
    with ThreadPoolExecutor(1) as pool:  # audit_records runs an event loop of its own
        records = pool.submit(audit_records, settings).result()
    assert not [a for a in records if a["user"] == auditor.name and a["action"] == "alert_list"]


def test_a_re_alert_links_to_the_earlier_outcome_of_the_same_plate_and_entry(
    stack, dispatchers, browser
) -> None:
    """Recovered, then read again moments later: the new alert says "earlier alert for this plate
    and entry: vehicle recovered by <who> at <when>", in the queue and the alert view, and the link
    opens the earlier alert with its history."""
    env, settings, root = stack
    plate = "7CLSD03"
    in_thread(sync_rows(settings, root, listed(plate, 613)))
    lee, ann = new_page(browser), new_page(browser)
    sign_in(lee, env, dispatchers["lee"])
    sign_in(ann, env, dispatchers["ann"])
    produce(settings, "closed-3", plate, "cq-curtner")
    first_id = alert_id_of(lee, plate)
    checked = {"characters_match": True, "state_match": True, "acknowledged": []}
    step(lee, env, first_id, {"action": "verify", "evidence_shown": "read-text", **checked, "note": ""})
    step(lee, env, first_id, {"action": "validate", "priority": "urgent", "note": ""})
    step(ann, env, first_id, {"action": "confirm", "confirming_agency": "CA0431000", "note": ""})
    step(
        ann, env, first_id,
        {"action": "disposition", "disposition": "vehicle_recovered", "note": "released to owner"},
    )  # fmt: skip
    lee.locator(f"#queue .alert-row[data-alert-id='{first_id}']").wait_for(state="detached", timeout=5_000)

    produce(settings, "closed-3b", plate, "cq-story")  # the plate read again after the recovery
    row = lee.locator("#queue .alert-row", has_text=plate)
    row.wait_for(timeout=10_000)
    again_id = row.get_attribute("data-alert-id")
    assert again_id != first_id
    link_text = "vehicle recovered by Dispatcher Ann (D-102) at "
    assert f"earlier alert for this plate and entry: {link_text}" in row.inner_text()

    row.click()
    lee.wait_for_selector(f"#detail[data-alert-id='{again_id}']")
    assert link_text in lee.inner_text("#d-earlier")
    lee.screenshot(path=str(ARTIFACTS / "console-re-alert-desktop.png"), full_page=True)
    lee.click(f"#d-earlier a[data-alert-id='{first_id}']")
    lee.wait_for_selector(f"#detail[data-alert-id='{first_id}'][data-status='dispositioned']")
    assert "released to owner" in lee.inner_text("#d-history")
    # P15: the earlier alert named beside the new one was shown too, and its showing is audited
    with ThreadPoolExecutor(1) as pool:  # audit_records runs an event loop of its own
        records = pool.submit(audit_records, settings).result()
    shown = [a for a in records if a["user"] == dispatchers["lee"].name and a["action"] == "alert_earlier"]
    assert any(first_id in a["query"]["alerts"] for a in shown), shown[-3:]
