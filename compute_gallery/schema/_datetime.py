"""ISO 8601 date-times read the way Compute reads them and written the way it echoes them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_ISO_8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?"
)

# .NET keeps 100-nanosecond ticks, so at most seven fractional digits survive a round trip.
_TICK_DIGITS = 7


def normalise_date_time(text: str) -> str | None:
    """``text`` as UTC with a ``+00:00`` offset, or None when it is not an ISO 8601 date-time.

    A value without an offset is taken as UTC. Fractional seconds are kept to tick precision
    without trailing zeros: ``2019-07-01T09:00:00.50+02:00`` -> ``2019-07-01T07:00:00.5+00:00``.
    """
    match = _ISO_8601.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()

    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        )
        if sign is not None:
            offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
            if offset >= timedelta(hours=24):
                return None
            zone = timezone(-offset if sign == "-" else offset)
            moment = moment.replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):
        return None

    digits = (fraction or "")[:_TICK_DIGITS].rstrip("0")
    suffix = f".{digits}" if digits else ""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}{suffix}+00:00"
    )
