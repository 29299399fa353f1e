"""The process's open-files limit: raised as far as the system allows, and what it leaves for clients.

Every client connection takes a descriptor and, while its request is under way, one or more for the
providers it is sent to. Linux's usual soft limit (1024) is barely above the default
``[listen] max_connections`` (1000): the descriptors would run out before that bound is reached, and
then a healthy provider gets the blame ("Too many open files" connecting to it) while new clients are
reset instead of taking an idle connection's place.
"""

from __future__ import annotations

# Descriptors kept for everything but client connections and their upstream ones: the store, the log,
# the config watcher, the event loop, the window's and the tray's own.
RESERVED = 128
# Enough for any connection bound worth having. Not more: the processes the app starts (the browser engine's,
# xdg-open) inherit the limit, and some close every descriptor up to it before they run — a hard limit of a
# billion (containers have one) would make each of those starts take seconds.
ENOUGH = 1 << 16
_MACOS_OPEN_MAX = 10240  # where the hard limit is infinite, the most macOS takes


def raise_limit() -> None:
    """Raise the soft limit toward the hard one (as Go programs do at start), up to ENOUGH; where the system
    refuses, the limit stays as it was."""
    try:
        import resource
    except ImportError:  # Windows: no such per-process limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    tries = (min(hard, ENOUGH),) if hard != resource.RLIM_INFINITY else (ENOUGH, _MACOS_OPEN_MAX)
    for wanted in tries:
        if soft != resource.RLIM_INFINITY and wanted <= soft:
            return
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            return
        except (ValueError, OSError):
            continue


def connection_room() -> int | None:
    """How many client connections the soft limit leaves room for; None: no limit to keep to. Each is allowed
    three upstream ones: a stream is hedged with the next provider, and the one after it when that is late
    too (with more providers all silent at once a stream may ask more), and the upstream pool keeps
    connections of requests just ended a while."""
    try:
        import resource
    except ImportError:
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return None
    return max(1, (soft - RESERVED) // 4)
