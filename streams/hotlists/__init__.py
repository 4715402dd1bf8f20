"""Hot lists: entries, the rules for loading them, and the per-worker view of the hot-list topic."""

from streams.hotlists.model import HotlistEntry, Person, check_entry

__all__ = ["HotlistEntry", "Person", "check_entry"]
