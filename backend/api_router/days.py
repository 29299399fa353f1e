"""Local calendar days as the request log counts them (requests today, the Usage page's day bars).

A day begins at its first local midnight. Where clocks go back across midnight, midnight comes twice
and the wall clock shows the day before once more in between: that hour already belongs to the new day.
"""

from __future__ import annotations

import datetime as dt


def day_of(unix_s: float) -> dt.date:
    """The local day ``unix_s`` falls in."""
    day = dt.datetime.fromtimestamp(unix_s).date()
    following = day + dt.timedelta(days=1)
    return following if midnight(following) <= unix_s else day


def midnight(day: dt.date) -> float:
    """When ``day`` begins (unix s): where it comes twice, the first one (fold 0) — C's mktime picks
    either, by its last answer. A midnight skipped by clocks going forward is read at the offset before
    it: the day's first instant."""
    return dt.datetime.combine(day, dt.time()).timestamp()
