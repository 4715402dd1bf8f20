"""The read's images in the alert view (issue 18, item 1; P7), in a real headless browser over a real
worker and console on the embedded broker.

An OCR-equivalent hit (the camera read 8 where the entry lists B): the plate crop is shown large
beside the two plates, and the differing character is marked with a border, a symbol and words
(aria-label, and a line of text), not by colour alone. "Visually verified" stays disabled until the
crop has loaded; a verification sent before then anyway is refused by the server (P7: the image
was not yet served to this person) and changes nothing; once the crop is on screen the same person
verifies against it. The overview opens large and closes with Escape. A read without an image says
to verify against the read text. Desktop and 390 px screenshots are saved under ``test-artifacts/``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from streams.images.store import image_key, image_ref, open_store
from tests.e2e import test_console_queue_browser as queue
from tests.e2e.test_console_browser import ARTIFACTS, in_thread, sign_in
from tests.factories import read_dict
from tests.integration.kafka_helpers import (
    SignInUser,
    add_user,
    ensure_home,
    read_topic,
    register_cameras,
    running_worker,
    send_reads,
)
from tests.integration.test_console import NCIC_ROWS, sync_rows
from tests.integration.test_console_images import png

pytestmark = pytest.mark.e2e

# chromium and a page of a given width, as the queue test makes them (over this module's stack)
browser, new_page = queue.browser, queue.new_page
CAMERA = "img-browser-1"


@pytest.fixture(scope="module")
def stack(broker, tmp_path_factory):
    root = tmp_path_factory.mktemp("images-browser")
    with running_worker(broker, root, console=True) as running:

        async def setup() -> None:
            await ensure_home(running[1])
            await register_cameras(running[1], {CAMERA: "SJPD"})

        in_thread(setup())
        yield running


@pytest.fixture(scope="module")
def dispatchers(stack) -> dict[str, SignInUser]:
    async def make() -> dict[str, SignInUser]:
        return {
            "lee": await add_user(stack[1], "mlee", "dispatcher", display="Dispatcher Lee", badge="D-101")
        }

    return in_thread(make())


def listed(plate: str, n: int) -> list[str]:
    return [
        *NCIC_ROWS[:4],
        f"V|V80000{n:04d}|CA0431000|{plate}|CA|2027|PC||2016|TOYT|TAC|4D|BLK|SJ-26-{n:04d}|",
    ]


def send(settings, read_id: str, plate: str, *, images: dict[str, bytes]) -> None:
    """A read with its images in the store (as the ingest keeps them), or with none."""
    captured = datetime.now(UTC)

    async def go() -> None:
        store = open_store(settings)
        for kind, data in images.items():
            await store.put(image_key(read_id, captured), kind, data, captured)
        ref = image_ref(read_id, captured) if images else None
        read = read_dict(
            read_id=read_id, plate=plate, camera_id=CAMERA, captured_at=captured.isoformat(), image_ref=ref
        )
        await send_reads(settings, [read])

    in_thread(go())


def steps(settings, plate: str) -> list[str]:
    """The alert's lifecycle events, with the image kind shown or the evidence verified against."""
    records = in_thread(read_topic(settings.kafka, settings.topic("alerts")))
    values = [json.loads(r.value) for r in records]
    ids = {v["alert_id"] for v in values if v["event"] == "AlertRaised" and v["plate_read"] == plate}
    return [
        f"{v['event']} {v.get('kind') or v.get('evidence_shown') or ''}".strip()
        for v in values
        if v["alert_id"] in ids and v["event"] != "AlertRaised"
    ]


def test_the_crop_is_shown_large_the_differing_character_marked_and_verify_waits_for_it_p7(
    stack, dispatchers, browser
) -> None:
    env, settings, root = stack
    in_thread(sync_rows(settings, root, [*listed("7IMG8B1", 951), listed("7NOIMG1", 952)[-1]]))
    page = new_page(browser, 1280, 1000)
    sign_in(page, env, dispatchers["lee"])
    held = []  # the crop's request, held until the test lets it through
    page.route("**/images/plate", lambda route: held.append(route))

    send(settings, "imgb-1", "7IMG881", images={"plate": png(240, 120, 30), "overview": png(320, 180, 120)})
    row = page.locator(".alert-row", has_text="7IMG881")
    row.wait_for(timeout=10_000)
    row.click()
    page.wait_for_selector("#detail[data-status='unverified'] #plate-image")
    page.wait_for_function("() => document.querySelectorAll('#d-images .plate-row').length === 2")
    page.wait_for_function("() => document.querySelector('#overview img').naturalWidth > 0")  # not held

    # the differing character: marked with a border and a symbol, and said in words
    read_row, listed_row = page.locator("#plate-diff .plate-row").all()
    assert read_row.locator(".ch-text").all_inner_texts() == list("7IMG881")
    assert listed_row.locator(".ch-text").all_inner_texts() == list("7IMG8B1")
    marked = read_row.locator(".ch.mark-equivalent")
    assert marked.count() == 1 and marked.locator(".ch-text").inner_text() == "8"
    assert "read 8, listed B: OCR-equivalent" in marked.get_attribute("aria-label")
    assert marked.locator(".ch-cue").inner_text() == "≈"
    # a different outline, not only a colour. Read in one go from the live DOM: a live update may
    # redraw the comparison, and a node it replaced has no computed style
    outlines = page.wait_for_function(
        """() => {
          const row = document.querySelector('#plate-diff .plate-row');
          const marked = row && row.querySelector('.ch.mark-equivalent');
          const same = row && row.querySelector('.ch.mark-same');
          if (!marked || !same || !marked.isConnected) return null;
          const a = getComputedStyle(marked).borderTopStyle, b = getComputedStyle(same).borderTopStyle;
          return a && b ? [a, b] : null;
        }"""
    ).json_value()
    assert outlines == ["dotted", "solid"], outlines
    assert "position 6: read 8, listed B: OCR-equivalent" in page.inner_text("#diff-notes")

    # P7: not yet shown, so the button is disabled, and the server refuses a verification anyway
    assert page.wait_for_function("() => !!document.querySelector('#action-verify')")
    assert page.is_disabled("#action-verify")
    assert page.input_value("#form-verify input[name=evidence_shown]") == ""
    page.check("#form-verify input[name=characters_match]")
    page.check("#form-verify input[name=state_match]")
    page.check("#form-verify input[name=ack][value=ocr-equivalent]")
    page.fill("#form-verify input[name=note]", "8 on the crop is the listed B: plate frame shadow")
    page.evaluate(
        "() => { const f = document.getElementById('form-verify');"
        " f.querySelector('input[name=evidence_shown]').value = 'image'; f.requestSubmit(); }"
    )
    page.wait_for_selector("#message.error:has-text('P7: open the plate image first')")
    assert steps(settings, "7IMG881") == ["AlertImageShown overview"]  # no verification, no crop shown
    assert page.is_disabled("#action-verify")

    # the crop arrives: shown large, and the button comes alive
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_selector("#evidence[data-shown='image']")
    assert page.is_enabled("#action-verify")
    width = page.eval_on_selector("#plate-image", "i => i.naturalWidth && i.getBoundingClientRect().width")
    assert width >= 1.5 * 240, width  # large: half as wide again as the 240 px crop itself
    assert steps(settings, "7IMG881") == ["AlertImageShown overview", "AlertImageShown plate"]
    # what was typed and ticked before the refusal is still there
    assert page.is_checked("#form-verify input[name=ack][value=ocr-equivalent]")

    # the overview: a thumbnail that opens large and closes with Escape
    page.click("#overview .overview-open")
    page.wait_for_selector("#overview.large")
    page.screenshot(path=str(ARTIFACTS / "console-images-overview.png"))
    page.keyboard.press("Escape")
    page.wait_for_selector("#overview:not(.large)")
    page.screenshot(path=str(ARTIFACTS / "console-images-desktop.png"), full_page=True)

    narrow = new_page(browser, 390, 844)
    narrow.context.add_cookies(page.context.cookies())
    narrow.goto(f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}/")
    narrow.locator(".alert-row", has_text="7IMG881").click()
    narrow.wait_for_selector("#evidence[data-shown='image']")
    assert narrow.eval_on_selector("#plate-image", "i => i.getBoundingClientRect().right") <= 390
    narrow.screenshot(path=str(ARTIFACTS / "console-images-390.png"), full_page=True)
    narrow.context.close()

    page.click("#action-verify")
    page.wait_for_selector("#detail[data-status='tentative_hit']")
    assert steps(settings, "7IMG881")[-1] == "AlertVisuallyVerified image"

    # a camera that sent no image: verify against the read text
    send(settings, "imgb-2", "7NOIMG1", images={})
    page.locator(".alert-row", has_text="7NOIMG1").click()
    page.wait_for_selector("#no-image:has-text('No image from this camera: verify against the read text')")
    page.wait_for_selector("#evidence[data-shown='read-text']")
    assert page.is_enabled("#action-verify")
    page.screenshot(path=str(ARTIFACTS / "console-images-no-image.png"), full_page=True)
