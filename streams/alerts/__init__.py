"""Alerts: raised by the matcher, confirmed by people (P7-P10)."""

from streams.alerts.model import UNVERIFIED, AlertRaised, alert_id_for, raise_alert

__all__ = ["UNVERIFIED", "AlertRaised", "alert_id_for", "raise_alert"]
