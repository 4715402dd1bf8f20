"""The alert's map (issue 18, item 2) in a real headless browser, over a real worker and two real
consoles on the embedded broker: one with the agency's tiles (ALPR_MAP_TILES pointing at a tile
server this test runs on 127.0.0.1, which records every tile asked for), one with none.

* With tiles: the tiles the page lays out are the ones the server was asked for, every one is
  shown, and each marker sits on the tile and at the pixel Web Mercator puts it; the points are
  numbered in capture order with arrows in the direction of travel, the latest marked "last seen",
  the fixed camera drawn with its facing wedge, the attribution shown, and the points listed as text.
* Without tiles: no tile server is asked anything; the markers keep their relative positions (the
  northern point above, the eastern to the right) and their distance to the scale bar; a north
  arrow; the page says no tiles are configured. An alert without any position shows a note instead.
* The Content-Security-Policy names exactly the tile origin: an image from another origin is
  blocked before any request leaves the browser.
* ``/api/map-config`` refuses a request without a session (401) and a role that does not view
  alerts (403).

Desktop (1280 px) and 390 px screenshots are saved under ``test-artifacts/``.
"""

from __future__ import annotations

import json
import math
import struct
import threading
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streams.kafka.broker import free_port
from tests.conftest import AlprProcess, wait_for
from tests.e2e import test_console_queue_browser as queue
from tests.e2e.test_console_browser import ARTIFACTS, in_thread, produce, sign_in
from tests.integration.kafka_helpers import (
    SignInUser,
    add_user,
    admin_principal,
    console_up,
    ensure_home,
    running_worker,
)
from tests.integration.test_console import NCIC_ROWS, sign_in_once, sync_rows

pytestmark = pytest.mark.e2e

#: Every tile laid out has loaded (or failed). A function, not an expression: the console's CSP
#: has no 'unsafe-eval', and playwright polls an expression with eval.
TILES_COMPLETE = "() => [...document.querySelectorAll('#d-map img.map-tile')].every(i => i.complete)"

# The queue test's chromium (a fresh browser per test, on this module's stack) and its page helpers
browser, listed, new_page = queue.browser, queue.listed, queue.new_page

ATTRIBUTION = "Tiles © Example City GIS <test>"
#: Synthetic places in San José: Story/King is 5.0 km north and 2.0 km east of Curtner/Monterey;
#: the patrol unit's sighting is 5.3 km due west of Story/King.
CURTNER, STORY, WEST = (37.2950, -121.8630), (37.3400, -121.8400), (37.3400, -121.9000)
CAMERAS = [
    ("mp-curtner", "Curtner Ave at Monterey Rd", "fixed", CURTNER, 45.0),
    ("mp-story", "Story Rd at King Rd", "fixed", STORY, 200.0),
    ("mp-unit", "Patrol unit 12", "mobile", (37.30, -121.88), None),
    ("mp-unit2", "Patrol unit 14", "mobile", (37.30, -121.88), None),
]


def png(width: int = 256, height: int = 256) -> bytes:
    """A small light-grey PNG (made here: no image file in the repository)."""
    raw = b"".join(b"\x00" + b"\xdd\xe3\xd2" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class TileServer:
    """An XYZ tile server on 127.0.0.1 that records each path it is asked for."""

    def __init__(self) -> None:
        self.requested: list[str] = []
        tile, requested = png(), self.requested

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server interface
                requested.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(tile)))
                self.end_headers()
                self.wfile.write(tile)

            def log_message(self, *_args: object) -> None:
                """Quiet: the test reads ``requested``."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def template(self) -> str:
        return f"http://127.0.0.1:{self.port}/tiles/{{z}}/{{x}}/{{y}}.png"

    def tiles(self) -> set[str]:
        return {
            p.removeprefix("/tiles/").removesuffix(".png") for p in self.requested if p.startswith("/tiles/")
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def tile_server() -> Iterator[TileServer]:
    server = TileServer()
    try:
        yield server
    finally:
        server.close()


async def register_map_cameras(settings) -> None:
    """Fixed cameras with their facing (no sensitive sites in this test's city: P24 passes)."""
    from streams.cameras.registry import Camera, CameraStore

    await ensure_home(settings)
    store = CameraStore(settings, sites=lambda: ())
    made = [Camera(i, name, "SJPD", kind, lat, lon, facing) for i, name, kind, (lat, lon), facing in CAMERAS]
    await store.add_many(made, admin_principal(), datetime.now(UTC))


@pytest.fixture(scope="module")
def stack(broker, tmp_path_factory, tile_server):
    """The worker and a console with the test's tiles, plus a second console on the same topics
    with none configured."""
    root = tmp_path_factory.mktemp("map-browser")
    with running_worker(
        broker, root, console=True, ALPR_MAP_TILES=tile_server.template, ALPR_MAP_ATTRIBUTION=ATTRIBUTION
    ) as (env, settings, root):
        in_thread(register_map_cameras(settings))
        plain_env = {k: v for k, v in env.items() if not k.startswith("ALPR_MAP_")}
        plain_env["ALPR_CONSOLE_PORT"] = str(free_port())
        plain = AlprProcess(plain_env, root / "console-plain.log", "console")
        try:
            wait_for(lambda: console_up(plain_env), 60, "the console without tiles")
            yield env, plain_env, settings, root
        finally:
            plain.stop()


@pytest.fixture(scope="module")
def people(stack) -> dict[str, SignInUser]:
    async def make() -> dict[str, SignInUser]:
        settings = stack[2]
        return {
            "lee": await add_user(settings, "mlee", "dispatcher", display="Dispatcher Lee", badge="D-101"),
            "ann": await add_user(settings, "mann", "dispatcher", display="Dispatcher Ann", badge="D-102"),
            "ada": await add_user(settings, "mada", "administrator", display="Admin Ada", badge="A-1"),
            "mo": await add_user(settings, "mmo", "dispatcher", display="Dispatcher Mo", badge="D-104"),
        }

    return in_thread(make())


@pytest.fixture(scope="module")
def listed_plates(stack) -> None:
    _env, _plain, settings, root = stack
    rows = [
        *NCIC_ROWS[:4],
        *listed("7MAPT01", 801)[4:],
        *listed("7MAPT02", 802)[4:],
        *listed("7MAPT03", 803)[4:],
    ]
    in_thread(sync_rows(settings, root, rows))


def trail_of(settings, plate: str) -> None:
    """The read at Curtner/Monterey, a sighting without a position, one at Story/King (north-east),
    then one 5.3 km due west of it: three points on the map, one capture left off."""
    produce(settings, f"{plate}-1", plate, "mp-curtner", lat=CURTNER[0], lon=CURTNER[1])
    produce(settings, f"{plate}-2", plate, "mp-unit2", lat=None, lon=None)
    produce(settings, f"{plate}-3", plate, "mp-story", lat=STORY[0], lon=STORY[1])
    produce(settings, f"{plate}-4", plate, "mp-unit", lat=WEST[0], lon=WEST[1])


def open_alert(page, plate: str) -> None:
    page.locator(".alert-row", has_text=plate).click()
    page.wait_for_selector(f"#detail:has-text('{plate}')")
    page.wait_for_selector("#d-map .map-point[data-n='3']")  # all three sightings folded
    page.wait_for_selector("#d-map .map-skipped")


def centre(page, selector: str) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def tile_at(lat: float, lon: float, zoom: int) -> tuple[str, float, float]:
    """The tile (z/x/y) holding a place and the place's pixel inside it (Web Mercator)."""
    n = 2**zoom
    s = math.sin(math.radians(lat))
    x = (lon + 180) / 360 * n
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n
    return f"{zoom}/{int(x)}/{int(y)}", (x % 1) * 256, (y % 1) * 256


def test_with_the_agencys_tiles_the_trail_is_drawn_in_order_on_the_tiles_it_asked_for(
    stack, people, browser, tile_server, listed_plates
) -> None:
    env, _plain, settings, _root = stack
    page = new_page(browser, 1280, 900)
    sign_in(page, env, people["lee"])
    trail_of(settings, "7MAPT01")
    page.wait_for_selector(".alert-row:has-text('7MAPT01')")
    open_alert(page, "7MAPT01")
    page.wait_for_selector("#d-map[data-mode='tiles']")

    # the tiles laid out are exactly the ones asked of the agency's server, and all of them show
    page.wait_for_function(TILES_COMPLETE)
    laid = set(page.eval_on_selector_all("#d-map img.map-tile", "imgs => imgs.map(i => i.dataset.tile)"))
    assert laid and laid <= tile_server.tiles(), (laid, tile_server.tiles())
    assert page.eval_on_selector_all("#d-map img.map-tile", "imgs => imgs.every(i => i.naturalWidth === 256)")
    zoom = int(next(iter(laid)).split("/")[0])
    assert 11 <= zoom <= 15  # 5 km apart in a ~780 px pane: a city-district zoom

    # each marker sits where Web Mercator puts it on its tile
    for n, (lat, lon) in ((1, CURTNER), (2, STORY), (3, WEST)):
        tile, px, py = tile_at(lat, lon, zoom)
        assert tile in laid, (n, tile, laid)
        box = page.locator(f"#d-map img.map-tile[data-tile='{tile}']").bounding_box()
        x, y = centre(page, f"#d-map .map-point[data-n='{n}'] .map-dot")
        assert abs(x - (box["x"] + px)) <= 2 and abs(y - (box["y"] + py)) <= 2, (n, x, y, box, px, py)

    # in capture order, with arrows in the direction of travel; the latest is "last seen"
    (x1, y1), (x2, y2), (x3, y3) = (
        centre(page, f"#d-map .map-point[data-n='{n}'] .map-dot") for n in (1, 2, 3)
    )
    assert y2 < y1 and x2 > x1  # Story/King is north-east of Curtner/Monterey
    assert x3 < x2 and abs(y3 - y2) <= 2  # then due west
    legs = page.eval_on_selector_all(
        "#d-map line.map-leg",
        "ls => ls.map(l => [l.dataset.from, l.dataset.to, l.getAttribute('marker-end'), +l.dataset.heading])",
    )
    assert [(a, b, m) for a, b, m, _ in legs] == [
        ("1", "2", "url(#map-arrowhead)"),
        ("2", "3", "url(#map-arrowhead)"),
    ]
    assert legs[0][3] == pytest.approx(22.1, abs=0.2) and legs[1][3] == pytest.approx(270.0, abs=0.2)
    leg = page.locator("#d-map line.map-leg[data-to='2']")
    assert float(leg.get_attribute("x2")) > float(leg.get_attribute("x1"))  # the arrow points to 2
    assert page.locator("#d-map .map-point.map-last").get_attribute("data-n") == "3"
    assert page.text_content("#d-map .map-last .map-last-label") == "last seen"
    title = page.text_content("#d-map .map-point[data-n='2'] > title")
    assert title.startswith("2. Story Rd at King Rd (mp-story), ") and str(datetime.now(UTC).year) in title

    # the read's camera, fixed, with its facing wedge towards the north-east (45 degrees)
    cx, cy = centre(page, "#d-map .map-camera .map-camera-mark")
    assert abs(cx - x1) <= 2 and abs(cy - y1) <= 2
    wx, wy = centre(page, "#d-map .map-camera .map-facing")
    assert wx > cx + 10 and wy < cy - 10
    assert "Curtner Ave at Monterey Rd (mp-curtner) (fixed), facing 45° NE" in page.text_content(
        "#d-map .map-camera > title"
    )

    # the attribution, as text; the points as text too
    assert page.inner_text("#d-map .map-attribution") == ATTRIBUTION
    listing = page.locator("#d-map .map-list li").all_inner_texts()
    assert len(listing) == 3 and listing[0].startswith("Curtner Ave at Monterey Rd (mp-curtner) · ")
    assert "heading 22° N, 5.4 km from 1" in listing[1] and listing[2].endswith("· last seen")
    assert "heading 270° W, 5.3 km from 2" in listing[2]
    assert page.inner_text("#d-map .map-skipped") == "1 capture with position unknown not shown on the map"
    page.screenshot(path=str(ARTIFACTS / "console-map-tiles-desktop.png"), full_page=True)
    page.locator("#d-map").screenshot(path=str(ARTIFACTS / "console-map-tiles-detail.png"))

    narrow = new_page(browser, 390, 844)
    narrow.context.add_cookies(page.context.cookies())
    narrow.goto(f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}/")
    open_alert(narrow, "7MAPT01")
    narrow.wait_for_selector("#d-map[data-mode='tiles']")
    narrow.wait_for_function(TILES_COMPLETE)
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 390  # nothing cut off sideways
    frame = narrow.locator("#d-map .map-frame").bounding_box()
    assert frame["x"] >= 0 and frame["x"] + frame["width"] <= 390
    for n in (1, 2, 3):  # every point inside the frame
        x, y = centre(narrow, f"#d-map .map-point[data-n='{n}'] .map-dot")
        assert frame["x"] < x < frame["x"] + frame["width"] and frame["y"] < y < frame["y"] + frame["height"]
    narrow.locator("#d-map").screenshot(path=str(ARTIFACTS / "console-map-tiles-390.png"))

    # tiles that do not load: the same markers on the plain background, saying so
    failing = new_page(browser, 1280, 900)
    failing.context.add_cookies(page.context.cookies())
    failing.route(f"http://127.0.0.1:{tile_server.port}/tiles/**", lambda route: route.abort())
    failing.goto(f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}/")
    open_alert(failing, "7MAPT01")
    failing.wait_for_selector("#d-map[data-mode='plain']")
    assert "The map tiles did not load" in failing.inner_text("#d-map .map-note")
    assert failing.locator("#d-map img.map-tile").count() == 0
    assert failing.locator("#d-map .map-point").count() == 3


def test_without_tiles_the_markers_keep_their_relative_positions_on_a_plain_background(
    stack, people, browser, tile_server, listed_plates
) -> None:
    _env, plain_env, settings, _root = stack
    asked_before = list(tile_server.requested)
    page = new_page(browser, 1280, 900)
    sign_in(page, plain_env, people["ann"])
    trail_of(settings, "7MAPT02")
    page.wait_for_selector(".alert-row:has-text('7MAPT02')")
    open_alert(page, "7MAPT02")
    page.wait_for_selector("#d-map[data-mode='plain']")
    assert page.locator("#d-map img").count() == 0
    assert "No map tiles are configured" in page.inner_text("#d-map .map-note")

    (x1, y1), (x2, y2), (x3, y3) = (
        centre(page, f"#d-map .map-point[data-n='{n}'] .map-dot") for n in (1, 2, 3)
    )
    assert y2 < y1 - 50 and x2 > x1 + 20  # the northern point above, the eastern to the right
    assert x3 < x2 - 50 and abs(y3 - y2) <= 2  # due west: left, at the same height
    # to scale: 5.4 km between 1 and 2 by the scale bar (north up: the north arrow says so)
    metres, px = (float(page.get_attribute("#d-map .map-scale", a)) for a in ("data-metres", "data-px"))
    assert math.hypot(x2 - x1, y2 - y1) * metres / px == pytest.approx(5_400, rel=0.03)
    assert page.locator("#d-map .map-north").count() == 1
    assert page.locator("#d-map line.map-leg").count() == 2
    assert page.locator("#d-map .map-point.map-last").get_attribute("data-n") == "3"
    assert page.locator("#d-map .map-camera .map-facing").count() == 1
    page.screenshot(path=str(ARTIFACTS / "console-map-plain-desktop.png"), full_page=True)
    page.locator("#d-map").screenshot(path=str(ARTIFACTS / "console-map-plain-detail.png"))

    narrow = new_page(browser, 390, 844)
    narrow.context.add_cookies(page.context.cookies())
    narrow.goto(f"http://127.0.0.1:{plain_env['ALPR_CONSOLE_PORT']}/")
    open_alert(narrow, "7MAPT02")
    narrow.wait_for_selector("#d-map[data-mode='plain']")
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 390
    narrow.locator("#d-map").screenshot(path=str(ARTIFACTS / "console-map-plain-390.png"))

    # an alert no capture of which has a position: a note, no map
    produce(settings, "7MAPT03-1", "7MAPT03", "mp-unit2", lat=None, lon=None)
    page.locator(".alert-row", has_text="7MAPT03").click()
    page.wait_for_selector("#d-map[data-mode='unknown']")
    assert "Position unknown" in page.inner_text("#d-map .map-unknown")
    assert page.locator("#d-map .map-frame").count() == 0
    assert tile_server.requested == asked_before  # no tile server was asked anything


def test_the_csp_lets_images_come_from_the_tile_origin_and_no_other(
    stack, people, browser, tile_server
) -> None:
    env, plain_env, _settings, _root = stack
    tiles_origin = f"http://127.0.0.1:{tile_server.port}"
    for console, images in ((env, f"'self' {tiles_origin}"), (plain_env, "'self'")):
        with urllib.request.urlopen(f"http://127.0.0.1:{console['ALPR_CONSOLE_PORT']}/login") as resp:
            assert resp.headers["Content-Security-Policy"] == (
                f"default-src 'self'; img-src {images}; frame-ancestors 'none'; form-action 'self'"
            )

    page = new_page(browser, 1280, 900)
    page.goto(f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}/login")
    load = """src => new Promise(done => {
        const image = new Image();
        image.onload = () => done("loaded");
        image.onerror = () => done("blocked");
        image.src = src;
    })"""
    # localhost is another origin than 127.0.0.1, though the same server: the policy blocks it
    assert page.evaluate(load, f"http://localhost:{tile_server.port}/elsewhere.png") == "blocked"
    assert page.evaluate(load, f"{tiles_origin}/tiles/0/0/0.png") == "loaded"
    assert not any(p.startswith("/elsewhere") for p in tile_server.requested)  # nothing left the browser


def test_the_map_config_needs_a_session_and_a_role_that_views_alerts_p21(stack, people) -> None:
    env = stack[0]
    url = f"http://127.0.0.1:{env['ALPR_CONSOLE_PORT']}/api/map-config"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url)
    assert refused.value.code == 401
    token = sign_in_once(env, people["ada"])
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 403 and "administrator" in json.loads(refused.value.read())["error"]
    token = sign_in_once(env, people["mo"])
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as resp:
        config = json.loads(resp.read())
    assert config == {
        "tiles": env["ALPR_MAP_TILES"],
        "attribution": ATTRIBUTION,
        "tile_size": 256,
        "max_zoom": 19,
    }
