"""Attention and keyboard in the dispatch console (issue 18, item 5), in a real headless browser over
a real worker and console on the embedded broker.

Keyboard: Tab reaches the queue after the header's controls; j/k move the selection; Enter opens
the alert; ? shows the shortcut list and Escape closes it; a "j" typed in a note stays in the note.
Attention: a high-priority hit (wanted person, urgency 0) pushed live, or raised while the page was
cut off and found in the snapshot it gets on reconnecting, plays one tone and shows one
browser notification, once the person has enabled notifications with a click; an alert already
open when the page loads, or a low-priority one, does neither; after "Mute" (remembered across a
reload) nothing sounds or shows. The browser's Notification and AudioContext are wrapped by an init
script that counts calls, so the count is what the page really asked the browser to do.

Screenshots are saved under ``test-artifacts/``.
"""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest

from tests.e2e import test_console_queue_browser as queue
from tests.e2e.test_console_browser import ARTIFACTS, in_thread, produce, sign_in
from tests.integration.test_console import NCIC_ROWS, sync_rows

pytestmark = pytest.mark.e2e

# The queue test's worker, console, named cameras, dispatchers and chromium, module-scoped here too
stack, dispatchers, browser, new_page = queue.stack, queue.dispatchers, queue.browser, queue.new_page

#: Counts what the page asks of the browser: notifications shown, permission asked, tones played.
#: The fake permission is kept in sessionStorage so that a reload keeps the grant, as a browser does.
COUNTING = """
window.__attention = {notes: [], asked: 0, tones: 0};
class CountingNotification {
  constructor(title, options) { window.__attention.notes.push({title, body: (options || {}).body}); }
  static get permission() { return sessionStorage.getItem("fake-permission") || "default"; }
  static requestPermission() {
    window.__attention.asked += 1;
    sessionStorage.setItem("fake-permission", "granted");
    return Promise.resolve("granted");
  }
}
window.Notification = CountingNotification;
const realOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__attention.tones += 1;
  return realOscillator.call(this);
};
"""


def rows(*plates: tuple[str, str, int]) -> list[str]:
    """The sample NCIC rows and, per (file, plate, n), a synthetic entry: W is the Wanted Person
    File (high priority), V the Vehicle File (stolen vehicle: normal priority)."""
    return [
        *NCIC_ROWS[:4],
        *(
            f"{f}|{f}80000{n:04d}|CA0431000|{plate}|CA|2027|PC||2016|TOYT|TAC|4D|BLK|SJ-26-{n:04d}|"
            for f, plate, n in plates
        ),
    ]


def counts(page) -> dict:
    return page.evaluate(
        "({notes: window.__attention.notes.length, tones: window.__attention.tones,"
        " asked: window.__attention.asked})"
    )


def focused(page) -> str:
    return page.evaluate(
        "document.activeElement.id || document.activeElement.dataset.alertId"
        " || document.activeElement.tagName"
    )


def test_the_queue_is_worked_from_the_keyboard(stack, dispatchers, browser) -> None:
    env, settings, root = stack
    in_thread(sync_rows(settings, root, rows(("V", "7KEYS01", 701), ("V", "7KEYS02", 702))))
    page = new_page(browser)
    sign_in(page, env, dispatchers["lee"])
    produce(settings, "keys-1", "7KEYS01", "cq-curtner")
    produce(settings, "keys-2", "7KEYS02", "cq-story")
    page.wait_for_selector(".alert-row:has-text('7KEYS01')")
    page.wait_for_selector(".alert-row:has-text('7KEYS02')")
    hint = page.inner_text("#keys-hint")
    assert "Keys:" in hint and "Enter" in hint and "?" in hint and "Esc" in hint

    # Tab: the header's controls first, then the queue rows
    page.evaluate("document.activeElement.blur()")
    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        order.append(focused(page))
        if page.evaluate("document.activeElement.matches('.alert-row')"):
            break
    assert page.evaluate("document.activeElement.matches('#queue .alert-row[role=button]')"), order
    assert {"mute", "help-open", "sign-out"} <= set(order), order
    ids = page.eval_on_selector_all("#queue .alert-row", "rows => rows.map(r => r.dataset.alertId)")
    assert focused(page) == ids[0]

    page.keyboard.press("j")
    assert focused(page) == ids[1]
    assert page.get_attribute(f".alert-row[data-alert-id='{ids[1]}']", "class").split().count("cursor") == 1
    page.keyboard.press("k")
    assert focused(page) == ids[0]
    page.keyboard.press("ArrowDown")
    assert focused(page) == ids[1]
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#detail[data-alert-id='{ids[1]}']")
    assert not page.is_hidden("#detail")

    page.keyboard.press("?")
    page.wait_for_selector("#help[role=dialog]:visible")
    assert "open the selected alert" in page.inner_text("#help")
    assert focused(page) == "help-close"
    page.screenshot(path=str(ARTIFACTS / "console-keys-help.png"), full_page=True)
    page.keyboard.press("Escape")
    page.wait_for_selector("#help", state="hidden")
    assert focused(page) == ids[1]  # focus goes back where it was

    # typing in a field is typing, not a shortcut
    page.focus("#form-reject input[name=note]")
    page.keyboard.type("jk?")
    assert page.input_value("#form-reject input[name=note]") == "jk?"
    assert page.is_hidden("#help")
    assert page.get_attribute(f".alert-row[data-alert-id='{ids[1]}']", "class").split().count("cursor") == 1


def test_a_live_high_priority_hit_sounds_and_notifies_once_and_mute_silences_both(
    stack, dispatchers, browser
) -> None:
    env, settings, root = stack
    in_thread(
        sync_rows(
            settings,
            root,
            rows(("W", "7ATTN01", 711), ("V", "7ATTN02", 712), ("W", "7ATTN03", 713)),
        )
    )
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, timezone_id="America/Los_Angeles")
    context.add_init_script(COUNTING)
    page = context.new_page()
    sign_in(page, env, dispatchers["ann"])

    # permission is asked only after a click on the button
    assert counts(page)["asked"] == 0
    page.click("#enable-notifications")
    page.wait_for_selector("#enable-notifications", state="hidden")
    assert counts(page) == {"notes": 0, "tones": 0, "asked": 1}

    produce(settings, "attn-1", "7ATTN01", "cq-curtner")  # wanted person: high priority
    page.wait_for_selector(".alert-row.urgency-0:has-text('7ATTN01')")
    page.wait_for_function("() => window.__attention.notes.length >= 1 && window.__attention.tones >= 1")
    assert counts(page) == {"notes": 1, "tones": 1, "asked": 1}
    assert "7ATTN01" in page.evaluate("window.__attention.notes[0].title")
    page.screenshot(path=str(ARTIFACTS / "console-attention.png"), full_page=True)

    produce(settings, "attn-2", "7ATTN02", "cq-story")  # a stolen vehicle: no tone, no notification
    page.wait_for_selector(".alert-row:has-text('7ATTN02')")
    produce(settings, "attn-1b", "7ATTN01", "cq-story")  # a sighting of the first: not a new alert
    page.wait_for_selector(".alert-row:has-text('7ATTN01') .last-seen:has-text('Story Rd')")
    assert counts(page) == {"notes": 1, "tones": 1, "asked": 1}

    # already open at page load: the snapshot never notifies
    page.reload()
    page.wait_for_selector("#live-status:has-text('live')")
    page.wait_for_selector(".alert-row:has-text('7ATTN01')")
    assert page.is_hidden("#enable-notifications")  # permission kept
    assert counts(page) == {"notes": 0, "tones": 0, "asked": 0}

    page.click("#mute")
    assert page.get_attribute("#mute", "aria-pressed") == "true"
    page.reload()  # the mute is remembered
    page.wait_for_selector("#live-status:has-text('live')")
    assert page.get_attribute("#mute", "aria-pressed") == "true"
    assert "Muted" in page.inner_text("#mute")
    produce(settings, "attn-3", "7ATTN03", "cq-curtner")  # high priority, muted
    page.wait_for_selector(".alert-row.urgency-0:has-text('7ATTN03')")
    assert counts(page) == {"notes": 0, "tones": 0, "asked": 0}
    page.screenshot(path=str(ARTIFACTS / "console-attention-muted.png"), full_page=True)
    context.close()


class Link:
    """A TCP relay between the browser and the console that the test can cut, as a network drop
    would: every open connection (the live stream too) is closed, and new ones are refused until
    it is restored."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.up = True
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # closed
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        with self.lock:
            for sock in self.open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self.open.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.server.close()


def test_a_high_priority_hit_raised_while_the_page_was_cut_off_notifies_when_it_reconnects(
    stack, dispatchers, browser
) -> None:
    env, settings, root = stack
    in_thread(sync_rows(settings, root, rows(("W", "7GONE01", 721), ("V", "7GONE02", 722))))
    link = Link(int(env["ALPR_CONSOLE_PORT"]))
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, timezone_id="America/Los_Angeles")
    context.add_init_script(COUNTING)
    page = context.new_page()
    sign_in(page, {**env, "ALPR_CONSOLE_PORT": str(link.port)}, dispatchers["ann"])  # through the link
    page.click("#enable-notifications")
    page.wait_for_selector("#enable-notifications", state="hidden")
    # another dispatcher's page, connected directly, shows when both alerts have been raised
    watcher = new_page(browser)
    sign_in(watcher, env, dispatchers["lee"])

    link.cut()
    page.wait_for_selector("#live-status:has-text('reconnecting')")
    produce(settings, "gone-1", "7GONE01", "cq-curtner")  # wanted person: high priority
    produce(settings, "gone-2", "7GONE02", "cq-story")  # stolen vehicle: normal priority
    watcher.wait_for_selector(".alert-row:has-text('7GONE01')")
    watcher.wait_for_selector(".alert-row:has-text('7GONE02')")
    assert page.locator(".alert-row:has-text('7GONE01')").count() == 0  # nothing reached the page
    assert counts(page) == {"notes": 0, "tones": 0, "asked": 1}

    link.restore()  # the page reconnects by itself and gets a snapshot holding both
    page.wait_for_selector("#live-status:has-text('live')")
    page.wait_for_selector(".alert-row.urgency-0:has-text('7GONE01')")
    page.wait_for_selector(".alert-row:has-text('7GONE02')")
    page.wait_for_function("() => window.__attention.notes.length >= 1 && window.__attention.tones >= 1")
    assert counts(page) == {"notes": 1, "tones": 1, "asked": 1}  # only the high-priority one
    assert "7GONE01" in page.evaluate("window.__attention.notes[0].title")
    page.screenshot(path=str(ARTIFACTS / "console-attention-reconnected.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_selector(".alert-row.urgency-0:has-text('7GONE01')")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "console-attention-reconnected-390.png"), full_page=True)
    watcher.context.close()
    context.close()
    link.close()
