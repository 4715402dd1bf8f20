"""Retention arithmetic and agency policy profiles (POLICY P11-P14)."""

from streams.retention.policy import Profile, load_profile, max_record_age_ms, retention_ms_within

__all__ = ["Profile", "load_profile", "max_record_age_ms", "retention_ms_within"]
