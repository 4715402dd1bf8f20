"""Cameras: where they stand and what they may face (P24)."""

from streams.cameras.sites import (
    CATEGORIES,
    EARTH_RADIUS_M,
    Point,
    Polygon,
    Site,
    SitesInvalid,
    Violation,
    load_sites,
    parse_sites,
    violations,
)

__all__ = [
    "CATEGORIES",
    "EARTH_RADIUS_M",
    "Point",
    "Polygon",
    "Site",
    "SitesInvalid",
    "Violation",
    "load_sites",
    "parse_sites",
    "violations",
]
