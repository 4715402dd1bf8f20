"""The pure parts of the transparency page and of the console's camera API."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from streams.access.directory import Agency
from streams.cameras.registry import Camera, CameraRegistry
from streams.console.cameras import camera_from_json, changes_from_json
from streams.console.transparency import STATEMENT, render_page, shared_with, summarize
from streams.errors import ConfigError
from streams.retention import load_profile
from tests.factories import NOW

HOME = Agency("SJPD", "San José Police Department", "municipal_police", "CA", "home")
SHERIFF = Agency("CA0430000", "Santa Clara County Sheriff", "county_sheriff", "CA", "signed", "2026-01-15")


def registry(*cameras: Camera) -> CameraRegistry:
    return CameraRegistry({c.id: c for c in cameras})


def test_only_californian_agencies_with_a_signed_agreement_are_listed_p19() -> None:
    """P19: partners are California law enforcement agencies with an agreement; the home department,
    an agency without an agreement, and federal, commercial, private or out-of-state ones are not
    (even if a record of theirs got onto the agencies topic)."""
    agencies = [
        HOME,
        SHERIFF,
        Agency("A1", "Alameda Police Department", "municipal_police", "ca", "signed"),
        Agency("M1", "Milpitas Police Department", "municipal_police", "CA", "none"),
        Agency("F1", "U.S. Immigration and Customs Enforcement", "federal", "CA", "signed"),
        Agency("C1", "Plate Data Brokers", "commercial", "CA", "signed"),
        Agency("P1", "Mall Security", "private", "CA", "signed"),
        Agency("N1", "Reno Police Department", "municipal_police", "NV", "signed"),
    ]
    assert [a.agency_id for a in shared_with(agencies)] == ["A1", "CA0430000"]


def test_the_figures_count_active_cameras_and_only_synced_feeds() -> None:
    """Retired cameras are not active; a feed never synced is not in use; a feed older than the
    profile's max staleness is flagged stale (P4)."""
    cams = registry(
        Camera("f1", "A", "SJPD", "fixed", 37.3, -121.9, 90.0),
        Camera("f2", "B", "SJPD", "fixed", 37.3, -121.9, 90.0, status="retired", retired_on=date(2026, 1, 1)),
        Camera("m1", "C", "SJPD", "mobile", 37.3, -121.9),
    )
    sources = {
        "ncic": {"last_success": (NOW - timedelta(hours=1)).isoformat(), "fresh_as_of": NOW.isoformat()},
        "svs": {"last_success": NOW.isoformat(), "fresh_as_of": (NOW - timedelta(hours=25)).isoformat()},
        "clets": {"last_success": None, "fresh_as_of": None, "last_error": "connection refused"},
    }
    figures = summarize(cams, load_profile("san_jose"), sources, [HOME, SHERIFF], NOW)
    assert figures["cameras"] == {"active": 2, "fixed": 1, "mobile": 1, "retired": 1}
    assert [(f["source"], f["stale"]) for f in figures["hotlist_sources"]] == [("ncic", False), ("svs", True)]
    assert "connection refused" not in str(figures)
    assert [a["agency_id"] for a in figures["shared_with"]] == ["CA0430000"]


def test_an_agency_keeping_hits_indefinitely_says_so_p13() -> None:
    figures = summarize(registry(), load_profile("hayward"), {}, [], NOW)
    assert (figures["retention"]["read_days"], figures["retention"]["alert_days"]) == (365, None)
    page = render_page(figures)
    assert '<dd id="alert-retention">kept indefinitely (P13)</dd>' in page
    assert '<dd id="read-retention">365 days, then deleted (P11)</dd>' in page


def test_the_page_escapes_what_it_shows_and_has_no_inline_code() -> None:
    """An agency's name is data: it is escaped, so it cannot inject markup or script into a public
    page (and the console's CSP would refuse inline script anyway)."""
    evil = Agency("E1", '<script>alert("x")</script> & Co', "municipal_police", "CA", "signed")
    page = render_page(summarize(registry(), load_profile("san_jose"), {}, [evil], NOW))
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in page
    assert "<script" not in page and "style=" not in page
    assert STATEMENT["text"] in page and "Senate Bill 54, 2017" in page and "Senate Bill 34, 2015" in page


def test_a_camera_request_is_read_strictly() -> None:
    camera = camera_from_json(
        {
            "id": "c1",
            "name": "N",
            "agency": "SJPD",
            "kind": "fixed",
            "lat": "37.3",
            "lon": -121.9,
            "facing_deg": 0,
        }
    )
    assert (camera.lat, camera.lon, camera.facing_deg, camera.install_date) == (37.3, -121.9, 0.0, None)
    with pytest.raises(ConfigError, match="lat: True is not a number"):
        camera_from_json({"id": "c1", "name": "N", "agency": "SJPD", "kind": "fixed", "lat": True, "lon": 1})
    with pytest.raises(ConfigError, match="name: required"):
        camera_from_json({"id": "c1", "agency": "SJPD", "kind": "fixed", "lat": 1, "lon": 1})
    assert changes_from_json({"facing_deg": "180", "install_date": "2026-02-01"}) == {
        "facing_deg": 180.0,
        "install_date": date(2026, 2, 1),
    }
    with pytest.raises(ConfigError, match="status cannot be changed"):
        changes_from_json({"status": "retired"})
    with pytest.raises(ConfigError, match="nothing to change"):
        changes_from_json({})
