"""Durations and dates as ``tahoe.cfg`` writes them (the lease expiry keys).

:func:`parse_duration` reads Tahoe-LAFS's duration strings: a whole number
and a unit of days, months (31 days) or years (365 days), with or without a
space between them and a final ``s``: ``7days``, ``31day``, ``60 days``,
``2mo``, ``3 month``, ``12 months``, ``2years``.  :func:`parse_date` reads a
``YYYY-MM-DD`` day and gives midnight UTC at its start.  Anything else is a
:class:`ValueError` that quotes the value and says what is accepted.
"""

import calendar
import time

DAY = 24 * 60 * 60
MONTH = 31 * DAY
YEAR = 365 * DAY
_UNITS = (("day", DAY), ("month", MONTH), ("mo", MONTH), ("year", YEAR))


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``60 days`` or ``2mo``."""
    s = text.strip().lower()
    if s.endswith("s"):
        s = s[:-1]
    for suffix, unit in _UNITS:
        if s.endswith(suffix):
            number = s[:-len(suffix)].strip()
            break
    else:
        raise ValueError("%r has no unit: write a number of days, months or years, "
                         "e.g. '60 days', '2 months' or '1 year'" % text)
    if not number.isdigit() or int(number) == 0:
        raise ValueError("%r is not a whole number greater than 0 followed by a unit of "
                         "days, months or years" % text)
    return int(number) * unit


def parse_date(text: str) -> int:
    """Unix seconds of midnight UTC at the start of a ``YYYY-MM-DD`` day."""
    s = text.strip()
    try:
        if len(s) != 10:
            raise ValueError()
        parsed = time.strptime(s, "%Y-%m-%d")
    except ValueError:
        raise ValueError("%r is not a date written YYYY-MM-DD, e.g. 2024-03-19" % text)
    return calendar.timegm(parsed)


def iso_utc_date(seconds: float) -> str:
    """``YYYY-MM-DD`` of a Unix time, in UTC."""
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))
