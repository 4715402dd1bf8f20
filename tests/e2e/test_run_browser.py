"""A new user's first minute (issue 18, "done when"): ``alpr run`` (what ``make run`` calls) on the
embedded broker, then the console in a real browser as the README says: sign in as the demo
analyst and open the first alert. Within a minute of the start the terminal has shown an alert,
and its view shows the plate crop (loaded, not a broken image), the read and listed plates
compared character by character, and the map with the camera's point. Desktop and 390 px
screenshots are kept under ``test-artifacts/``."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from queue import Empty, Queue
from typing import Any

import pytest

from streams.dev import demo_code
from streams.kafka.broker import free_port
from tests.conftest import ROOT, settings_of
from tests.e2e.test_console_browser import ARTIFACTS, CHROMIUM

pytestmark = pytest.mark.e2e

#: The issue's promise, from the start of `alpr run` (the broker, worker and console included).
FIRST_MINUTE_S = 60.0


@pytest.fixture()
def demo(
    env_factory, tmp_path
) -> Iterator[tuple[dict[str, str], float, list[str], subprocess.Popen[str], Queue[str | None]]]:
    env = env_factory(ALPR_EMBEDDED_PORT=str(free_port()), ALPR_STATE_DIR=str(tmp_path / "state"))
    del env["ALPR_BROKER_URL"]  # as a new user runs it: the embedded broker
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "run", "--rate", "100", "--cameras", "40"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: Queue[str | None] = Queue()
    seen: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)  # the end of its output

    threading.Thread(target=pump, daemon=True).start()
    try:
        first_alert = None
        while first_alert is None and time.monotonic() - started < 3 * FIRST_MINUTE_S:
            try:
                line = lines.get(timeout=1.0)
            except Empty:
                assert proc.poll() is None, "".join(seen)[-3000:]
                continue
            if line is None:
                break
            seen.append(line)
            if line.startswith("ALERT ("):
                first_alert = time.monotonic() - started
        assert first_alert is not None, "".join(seen)[-3000:]
        yield env, first_alert, seen, proc, lines
    finally:
        if proc.poll() is None:  # the test failed before it stopped the run: do not leave it
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()


def open_an_alert_with_a_position(page: Any) -> str:
    """Open the first alert in the queue whose captures have a position and return its id. The
    demo leaves the position off one read in twenty (a unit without a GPS fix), and such an alert
    rightly shows "position unknown" instead of a map."""
    rows = page.locator(".alert-row")
    ids = [rows.nth(i).get_attribute("data-alert-id") for i in range(rows.count())]
    for alert_id in ids:
        page.locator(f'.alert-row[data-alert-id="{alert_id}"]').click()
        page.wait_for_selector(f'#detail[data-alert-id="{alert_id}"] #d-map[data-mode]')
        if page.get_attribute("#d-map", "data-mode") != "unknown":
            return str(alert_id)
    raise AssertionError(f"none of the {len(ids)} alerts in the queue has a position")


def test_a_new_user_sees_an_alert_its_plate_crop_and_a_map_within_a_minute(demo) -> None:
    from playwright.sync_api import sync_playwright

    env, first_alert_s, out, proc, later = demo
    assert first_alert_s <= FIRST_MINUTE_S, f"first alert line {first_alert_s:.0f} s after the start"
    text = "".join(out)
    assert "Traceback" not in text
    console = next(line for line in out if line.strip().startswith("console"))
    url = console.split()[1]
    settings = settings_of(env)
    credentials = json.loads((settings.state_dir / "demo-credentials.json").read_text())
    assert oct(os.stat(settings.state_dir / "demo-credentials.json").st_mode & 0o777) == "0o600"
    code = demo_code(settings)  # before the browser: playwright's sync API runs an event loop
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(url)
            page.fill("#user", credentials["user"])
            page.fill("#password", credentials["password"])
            page.fill("#code", code)
            page.click("#sign-in")
            page.wait_for_selector("#live-status:has-text('live')")
            alert_id = open_an_alert_with_a_position(page)
            page.wait_for_selector("#detail[data-status] #plate-image")
            page.wait_for_function("() => document.querySelector('#plate-image').naturalWidth > 0")
            assert page.locator("#plate-diff .plate-row").count() == 2  # read and listed, compared
            page.wait_for_selector("#d-map .map-point")
            page.screenshot(path=str(ARTIFACTS / "demo-first-alert-desktop.png"), full_page=True)
            narrow = browser.new_context(viewport={"width": 390, "height": 844})
            narrow.add_cookies(page.context.cookies())
            small = narrow.new_page()
            small.goto(url)
            small.locator(f'.alert-row[data-alert-id="{alert_id}"]').click()
            small.wait_for_selector("#plate-image")
            small.wait_for_selector("#d-map .map-point")
            assert small.evaluate("document.documentElement.scrollWidth") <= 390
            small.screenshot(path=str(ARTIFACTS / "demo-first-alert-390.png"), full_page=True)
        finally:
            browser.close()

    # A `kill` (SIGTERM) while alerts stream in stops the run as Ctrl-C does (it used to hang in
    # asyncio's task cancellation with its worker and broker left running): the worker, the
    # console, the services and the embedded broker (in a session of its own) are all stopped.
    children = [int(pid) for pid in re.findall(r"\bpid (\d+)", "".join(out))]
    assert len(children) >= 2, out  # the worker and the console at least
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    rest = []  # what it printed after the first alert, to the end of its output (None)
    while (line := later.get(timeout=30.0)) is not None:
        rest.append(line)
    assert any("stopping" in line for line in rest), "".join(rest)[-3000:]
    for pid in children:  # each was stopped and reaped
        assert not os.path.exists(f"/proc/{pid}"), pid
    with socket.socket() as sock:  # the broker it started is stopped too
        assert sock.connect_ex(("127.0.0.1", int(env["ALPR_EMBEDDED_PORT"]))) != 0
