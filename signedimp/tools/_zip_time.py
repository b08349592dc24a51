"""Zip entry times for reproducible builds: ``SOURCE_DATE_EPOCH``, clamped to what a zip holds.

One reading of the variable for every archive the tools write (the manifest member of a signed
zip or wheel, every entry of a zipapp), so the same value gives the same bytes everywhere and a
bad value gets the same error.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs import time in every signed build
    from collections.abc import Mapping

#: MS-DOS dates, which zip entries carry, cover 1980-01-01 00:00:00 .. 2107-12-31 23:59:58 UTC.
ZIP_EPOCH_MIN = 315532800
ZIP_EPOCH_MAX = 4354819198


def source_date_time(env: Mapping[str, str] = os.environ) -> tuple[int, int, int, int, int, int] | None:
    """``SOURCE_DATE_EPOCH`` as a zip ``date_time`` (clamped to the zip range), None when unset.

    A value that is not a whole number of seconds is a ``ValueError`` naming the variable.
    """
    raw = env.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return None
    try:
        epoch = int(raw)
    except ValueError:
        raise ValueError(f"SOURCE_DATE_EPOCH={raw!r} is not a whole number of seconds") from None
    year, month, day, hour, minute, second = time.gmtime(min(max(epoch, ZIP_EPOCH_MIN), ZIP_EPOCH_MAX))[:6]
    return year, month, day, hour, minute, second
