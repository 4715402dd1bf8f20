"""Documents the program owes to the public and to the Council (P26, P27)."""

from streams.reports.breach import Incident, IncidentInvalid, parse_incident, render_notice

__all__ = ["Incident", "IncidentInvalid", "parse_incident", "render_notice"]
