"""Lines for the terminal the app was started from — which may be gone, full or closed — and the stops it
can send (Ctrl-C, SIGTERM, a closed terminal's SIGHUP).

The gateway serves whether or not anyone reads what it prints: a banner that cannot be written (stdout
on a full disk, a pipe whose reader left, no console at all) is dropped, and so is what is still
buffered at exit, which Python would otherwise report as a failed flush and exit 120 for. A pipe that
nobody reads (a wrapper that never drains it) is written without waiting: once it is full, lines are
dropped rather than stopping the writer — a quit would otherwise wait on it for ever.
"""

from __future__ import annotations

import codecs
import os
import select
import signal
import stat
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from api_router.texts import utf8_writable


def standard_descriptors_taken() -> None:
    """Descriptors 0, 1 and 2 closed at start (``>&- 2>&-``) are given the null device: otherwise the next
    file the app opens takes the number, and what believes it writes to stderr writes into it — uvloop's
    event loop took 2, and libuv aborts (SIGABRT) on closing a descriptor that low."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def write_line(stream: TextIO, text: str) -> None:
    """``text`` as a line on ``stream``, now; dropped when it cannot be written, and never waited on by a
    pipe nobody reads. Characters the stream's encoding lacks (a Latin-1 locale) are written as escapes."""
    text = utf8_writable(text)
    found = _pipe_of(stream) if _CAN_POLL else None  # (a pipe on Windows can be neither polled nor reopened)
    if found is None:
        _print(stream, text)
        return
    pipe, which = found
    encoding = stream.encoding or "utf-8"
    door = _own_door(pipe)
    if door is None:
        with _POLLED:  # two writers between one's look and its write could fill what the look saw free
            _polled_lines(pipe, which, text, encoding)
        return
    try:
        _whole_lines(text, encoding, door)
    finally:
        os.close(door)


def _print(stream: TextIO, text: str) -> None:
    try:
        print(text, file=stream, flush=True)
    except UnicodeEncodeError:
        encoding = stream.encoding or "ascii"
        _print(stream, text.encode(encoding, "backslashreplace").decode(encoding))
    except (OSError, ValueError):  # ValueError: the stream was closed
        pass


def _whole_lines(text: str, encoding: str, door: int) -> None:
    """Line by line through a descriptor that does not wait, each at most PIPE_BUF bytes: such a write goes in
    whole or not at all, so no half line ever runs into the next (what the pipe's pages hold cannot be told
    from outside). A longer line is cut, a record of several lines (a traceback) may lose its end."""
    try:
        for line in text.split("\n"):
            data = line.encode(encoding, "backslashreplace")
            if len(data) >= _PIPE_BUF:
                data = data[:_PIPE_BUF - 8].decode(encoding, "ignore").encode(encoding) + b"..."
            os.write(door, data + b"\n")
    except OSError:  # full (BlockingIOError), or the reader left
        pass


def _polled_lines(fd: int, which: _PipeId, text: str, encoding: str) -> None:
    """Where no descriptor of its own can be had (macOS, the BSDs): a pipe that polls writable has room for
    PIPE_BUF bytes (512 on macOS), so each piece of at most that many goes after a look, and none waits. A
    line stops where the pipe is full (at a character's end); the next line that goes into that pipe —
    through stdout or stderr, which ``2>&1`` makes one — starts on a line of its own."""
    utf8 = codecs.lookup(encoding).name == "utf-8"
    try:
        for line in text.split("\n"):
            data = line.encode(encoding, "backslashreplace") + b"\n"
            if which in _CUT_SHORT:
                data = b"\n" + data
            at = 0
            while at < len(data):
                end = min(at + _PIPE_BUF, len(data))
                while utf8 and at + 4 < end < len(data) and data[end] & 0xC0 == 0x80:  # not inside a character
                    end -= 1
                if not select.select([], [fd], [], 0)[1]:
                    if at:
                        _CUT_SHORT.add(which)
                    return
                at += os.write(fd, data[at:end])
            _CUT_SHORT.discard(which)
    except OSError:  # the reader left
        pass


# A write of at most this many bytes to a pipe goes in whole or not at all (4096 on Linux, 512 on macOS).
_PIPE_BUF = getattr(select, "PIPE_BUF", 512)
_CAN_POLL = os.name == "posix"
_POLLED = threading.Lock()
_PipeId = tuple[int, int]  # a pipe's device and inode: stdout and stderr may be one, and a number is reused
_CUT_SHORT: set[_PipeId] = set()  # polled pipes whose last line stopped part-way (``_POLLED`` held)
_OWN_DOOR = "/proc/self/fd/{}"  # Linux: opened anew, a descriptor that alone does not wait


def _pipe_of(stream: TextIO) -> tuple[int, _PipeId] | None:
    """The descriptor under ``stream`` and which pipe it is, when it is one."""
    try:
        fd = stream.fileno()
        st = os.fstat(fd)
    except (OSError, ValueError, AttributeError):  # no descriptor
        return None
    return (fd, (st.st_dev, st.st_ino)) if stat.S_ISFIFO(st.st_mode) else None


def _own_door(fd: int) -> int | None:
    """A descriptor of its own onto pipe ``fd`` that does not wait — the pipe's other writers keep theirs as
    they were (Linux, through /proc); None where there is none."""
    try:
        return os.open(_OWN_DOOR.format(fd), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # no /proc
        return None


def say(text: str, *, error: bool = False) -> None:
    """``text`` as a line on stdout (``error``: stderr), now; dropped when it cannot be written."""
    stream = sys.stderr if error else sys.stdout
    if stream is not None:  # a windowed executable has none
        write_line(stream, text)


def alert(text: str, *, platform: str | None = None, box: Callable[[str], None] | None = None) -> None:
    """``text`` (a start that could not go on) as a line on stderr — or, where there is none on Windows (the
    windowed executable, started by a double-click or a login item), in a message box: such a start must
    not end without a word. ``box``: how to show one (default: the Windows message box)."""
    if sys.stderr is not None or (platform or sys.platform) != "win32":
        say(text, error=True)
        return
    (box or _message_box)(text)


def _message_box(text: str) -> None:
    import ctypes

    try:
        ctypes.windll.user32.MessageBoxW(None, text, "API Router", 0x10)  # type: ignore[attr-defined]  # MB_ICONERROR
    except (AttributeError, OSError):
        pass


def let_go_of_output() -> None:
    """At exit: what stdout and stderr could not take is dropped (they are pointed at the null device),
    so that an unwritable stream does not turn a clean exit into an error."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, stream.fileno())
                os.close(null)
            except (OSError, ValueError):
                pass


def stop_signals() -> tuple[signal.Signals, ...]:
    """The signals that mean a clean stop: Ctrl-C, SIGTERM, and where they exist Ctrl-Break (Windows) and
    SIGHUP (the terminal it runs in was closed) — but not a SIGHUP ignored from the start (``nohup``)."""
    found = [signal.SIGINT, signal.SIGTERM]
    ctrl_break, hangup = getattr(signal, "SIGBREAK", None), getattr(signal, "SIGHUP", None)
    if ctrl_break is not None:
        found.append(ctrl_break)
    if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:
        found.append(hangup)
    return tuple(found)


def stops_as_ctrl_c() -> None:
    """Every stop signal raises KeyboardInterrupt, as Ctrl-C does: for the steps where no handler of the app's
    own is in place (``entry`` ends the run on it, cleanly, with exit code 0) — not the defaults, which kill."""
    for sig in stop_signals():
        signal.signal(sig, signal.default_int_handler)


def ignore_stops() -> None:
    """The desktop app is on its way out (its GUI loop has ended, its shutdown under way): a further stop
    changes nothing, and the defaults that would be in place then kill it before the store is closed and
    the lock let go. (Not for a process that starts others afterwards: they inherit an ignored signal.)"""
    for sig in stop_signals():
        signal.signal(sig, signal.SIG_IGN)
