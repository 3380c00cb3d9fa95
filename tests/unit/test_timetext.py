"""Stored times as a person reads them: one formatter for the screens, the store's messages and the exports."""

import datetime as dt

from watchwait.timetext import utc_minute


def test_a_stored_time_reads_to_the_minute_in_utc_whatever_its_zone():
    assert utc_minute("2026-11-30T14:03:59.999999+00:00") == "2026-11-30 14:03 UTC"  # minutes cut, never rounded up
    assert utc_minute("2026-11-30T15:03:00+01:00") == "2026-11-30 14:03 UTC"
    assert utc_minute(dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))) == "2027-01-01 01:30 UTC"
    assert utc_minute(dt.datetime(2026, 11, 30, 14, 3)) == "2026-11-30 14:03 UTC"  # naive: the store's UTC


def test_no_time_reads_as_the_caller_says():
    assert utc_minute(None) == "" and utc_minute("") == ""
    assert utc_minute(None, "an unknown time") == "an unknown time"
