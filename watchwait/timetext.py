"""Times as the screens, the store's messages and the exports print them: one formatter.

Stored times are UTC ISO 8601 strings (``2026-11-30T14:03:12.123456+00:00``, :mod:`watchwait.store`); a person
reads them to the minute, with the zone said: ``2026-11-30 14:03 UTC``.
"""

from __future__ import annotations

import datetime as dt


def utc_minute(ts: str | dt.datetime | None, unknown: str = "") -> str:
    """A stored time (ISO string or aware datetime) as '2026-11-30 14:03 UTC'; ``unknown`` when there is none.
    A naive datetime is taken as UTC (the store writes every time in UTC)."""
    if ts is None or ts == "":
        return unknown
    t = dt.datetime.fromisoformat(ts) if isinstance(ts, str) else ts
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
