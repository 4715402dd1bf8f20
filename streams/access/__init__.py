"""Access to ALPR data: who did what, why (P15-P23). The audit trail lives in ``audit.py``."""
