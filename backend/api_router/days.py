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
    it: the day's first instant. Where clocks go back at midnight itself (Chile: 24:00 becomes 23:00), the
    day began as the clock reached 24:00, though it then shows 23:00 of the day before."""
    start = dt.datetime.combine(day, dt.time())
    shown = start.timestamp()
    evening = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(18)).astimezone().tzinfo
    reached = start.replace(tzinfo=evening).timestamp()  # 24:00 at the evening's offset
    if reached < shown and dt.datetime.fromtimestamp(reached - 1) == start - dt.timedelta(seconds=1):
        return reached
    return shown
