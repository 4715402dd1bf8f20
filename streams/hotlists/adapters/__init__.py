"""Feed adapters, one module each, registered here.

To add a feed: write a module with an object that has ``name``, ``sources``,
``pending`` and ``open(path, source) -> Extract`` (see ``base.Adapter``), and
add it to ``ADAPTERS`` below.
"""

from __future__ import annotations

from streams.errors import ConfigError
from streams.hotlists.adapters import flock, ncic, ndjson, svs
from streams.hotlists.adapters.base import Adapter, Extract, ExtractRefused, Parsed, Same

__all__ = ["ADAPTERS", "Adapter", "Extract", "ExtractRefused", "Parsed", "Same", "adapter"]

ADAPTERS: dict[str, Adapter] = {a.name: a for a in (ncic.ADAPTER, svs.ADAPTER, ndjson.ADAPTER, flock.ADAPTER)}


def adapter(name: str) -> Adapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise ConfigError(f"unknown feed format {name!r}; choose one of {sorted(ADAPTERS)}") from None
