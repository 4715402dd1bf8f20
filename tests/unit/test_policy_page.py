"""The console's public ``/policy`` page (issue 18, item 8): docs/policy.md served over real HTTP by
the real console app, without a sign-in, every rule P1-P28 under its stable anchor, so a page that
cites "P7" can link to ``/policy#P7``. The app is built as ``alpr console`` builds it, around a desk
and an authenticator that are never started: the page needs no broker, and nothing here reads one."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from streams.access.authn import Authenticator
from streams.alerts.desk import AlertDesk
from streams.console.policy import policy_html
from streams.console.server import COOKIE, create_console
from streams.kafka.broker import free_port
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
RULES = [f"P{n}" for n in range(1, 29)]


@pytest.fixture()
async def console(tmp_path: Path) -> AsyncIterator[TestServer]:
    settings = Settings.from_env(
        {"ALPR_STATE_DIR": str(tmp_path / "state"), "ALPR_BROKER_URL": f"kafka://127.0.0.1:{free_port()}"}
    )
    app = create_console(settings, AlertDesk(settings), Authenticator(settings), lambda: datetime.now(UTC))
    async with TestServer(app) as server:
        yield server


async def _get(server: TestServer, path: str, **headers: str) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession(str(server.make_url("")), headers=headers) as client:
        async with client.get(path, allow_redirects=False) as resp:
            return resp.status, dict(resp.headers), await resp.text()


async def test_the_policy_page_is_public_with_every_rule_anchor(console: TestServer) -> None:
    """No session, no cookie: 200, an HTML page with id="P1" ... id="P28" (in order), the console's
    security headers kept, and no inline code (the CSP forbids it, so the page renders as written)."""
    status, headers, page = await _get(console, "/policy")
    assert status == 200, page
    assert headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert re.findall(r'<h3 id="(P\d+)">', page) == RULES
    assert '<h3 id="P7">P7. A person verifies before anyone acts</h3>' in page
    assert '<a href="#P22">P22</a>' in page  # the cross-references work on the page too
    assert "<script" not in page and "<style" not in page and "style=" not in page


async def test_a_bad_session_cookie_does_not_matter_to_the_public_page(console: TestServer) -> None:
    """Public means public: a stale or forged session is not looked at (no redirect to /login)."""
    status, _headers, page = await _get(console, "/policy", Cookie=f"{COOKIE}=forged-session")
    assert status == 200 and 'id="P28"' in page


async def test_making_the_policy_public_opened_nothing_else(console: TestServer) -> None:
    """The console's own pages and API still need a session: the page went on the public list alone."""
    assert (await _get(console, "/"))[0] == 303
    assert (await _get(console, "/search"))[0] == 303
    assert (await _get(console, "/api/alerts"))[0] == 401


def test_the_rendering_escapes_everything_and_keeps_the_structure() -> None:
    """Markdown is data: markup in it is shown, never run; anchors, lists, tables and links to an
    anchor or a web address are kept, any other link shows as its text."""
    page = policy_html(
        '# Title <b>x</b>\n\n### <a id="P9"></a>P9. Rule & "more"\n\n'
        "Text with `<script>` and **bold**, *em*, [see P7](#P7), [site](https://example.org/a?b=1&c=2),\n"
        "[file](../elsewhere.md) and <img src=x onerror=alert(1)>.\n\n"
        "- one\n  continued\n- two\n\n| a | b |\n|---|---|\n| <i>1</i> | 2 |\n"
    )
    assert '<h1 id="title-x">Title &lt;b&gt;x&lt;/b&gt;</h1>' in page
    assert '<h3 id="P9">P9. Rule &amp; &quot;more&quot;</h3>' in page
    assert "<code>&lt;script&gt;</code>" in page and "<strong>bold</strong>" in page and "<em>em</em>" in page
    assert '<a href="#P7">see P7</a>' in page
    assert '<a href="https://example.org/a?b=1&amp;c=2">site</a>' in page
    assert " file and &lt;img src=x onerror=alert(1)&gt;." in page
    assert "<ul><li>one continued</li><li>two</li></ul>" in page
    assert "<th>a</th><th>b</th>" in page and "<td>&lt;i&gt;1&lt;/i&gt;</td>" in page
    assert "<script" not in page and "<img" not in page and "<b>" not in page


def test_the_page_is_the_repositorys_policy_reference() -> None:
    """The console serves the file the README and the docs link to, not a copy of its own."""
    page = policy_html((ROOT / "docs" / "policy.md").read_text(encoding="utf-8"))
    assert re.findall(r'<h3 id="(P\d+)">', page) == RULES
