"""The dispatch console and the CAD API over the alert lifecycle (P7-P10)."""
