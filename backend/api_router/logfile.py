"""The app's log: ``data/api-router.log`` (rotated, private) and stderr, written from a thread of its
own, with every known secret masked and control characters escaped."""

from __future__ import annotations

import atexit
import contextlib
import logging
import logging.handlers
import os
import queue
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from api_router.composition import StartupError
from api_router.fsutil import create_private_file, private_dir, refuse_pipe, tighten
from api_router.services import Services
from api_router.terminal import write_line
from api_router.texts import utf8_writable

# Control characters from outside (a request path, an upstream's error) would let a line pass for
# another one: a CR rewrites the line on a terminal, a newline starts a forged record; a terminal acts on
# C1 ones as on their ESC forms (U+009B clears the screen, U+009D writes the clipboard), and U+0085,
# U+2028 and U+2029 end a line for many readers.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")  # tab and newline aside (a traceback's lines)
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]


class RedactingFormatter(logging.Formatter):
    """Formats, then scrubs every known secret from the whole text (tracebacks included). A record's
    message stays one line, whatever it quotes."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._redact = redact

    def formatMessage(self, record: logging.LogRecord) -> str:
        return _CONTROL_OR_NEWLINE.sub(_escaped, super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(_CONTROL.sub(_escaped, utf8_writable(super().format(record))))


ROTATE_AGAIN_SECONDS = 60.0


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """The log file (and each rotated one) readable by its owner only: it names providers and errors.
    A file that cannot be written for a while (a full disk, a read-only folder) costs one line on stderr,
    not Python's traceback for every record, and the file says how many records it missed once it can
    be written again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._missed = 0  # records the file could not take since it last took one
        self._rotate_again_at = 0.0  # (monotonic) a rotation that failed is not tried before then
        base = Path(self.baseFilename)
        for n in range(1, self.backupCount + 1):  # rotated by an older version, with the umask's mode
            tighten(base.with_name(f"{base.name}.{n}"))

    def emit(self, record: logging.LogRecord) -> None:
        missed = self._missed
        super().emit(record)
        if missed and self._missed == missed:  # taken: the outage is over
            self._missed = 0
            super().emit(logging.LogRecord(
                __name__, logging.WARNING, __file__, 0,
                "%d earlier log records were lost: the log file could not be written for a while", (missed,), None))

    def shouldRollover(self, record: logging.LogRecord) -> int:
        return 0 if time.monotonic() < self._rotate_again_at else super().shouldRollover(record)

    def doRollover(self) -> None:
        try:
            if self.backupCount and not os.path.exists(self.rotation_filename(f"{self.baseFilename}.1")):
                # ".1" free: the backups have moved on already (a rotation refused after it had moved them)
                # and moving them again would lose the oldest for nothing — the file alone goes there.
                self._move_to_first_backup()
            else:
                super().doRollover()
        except OSError:
            # Windows: another program holds the file open without letting it be renamed (a log viewer, a
            # `Get-Content -Wait`). Every record would try the rotation again, and be lost with it: they go
            # on into the file as it is, and the rotation waits a while.
            self._rotate_again_at = time.monotonic() + ROTATE_AGAIN_SECONDS  # (the record reopens the file)

    def _move_to_first_backup(self) -> None:
        if self.stream:
            self.stream.close()
            self.stream = None
        self.rotate(self.baseFilename, self.rotation_filename(f"{self.baseFilename}.1"))
        self.stream = self._open()  # type: ignore[no-untyped-call]

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            super().handleError(record)
            return
        self._missed += 1
        if self._missed == 1 and sys.stderr is not None:  # (never waited on: a pipe nobody reads may be full)
            write_line(sys.stderr, f"api-router: the log file {self.baseFilename} cannot be written "
                                   f"({exc.strerror or exc}); log records are lost until it can be")

    def _open(self):  # type: ignore[no-untyped-def]
        path = Path(self.baseFilename)
        create_private_file(path)
        refuse_pipe(path)  # a FIFO there would hold the start (and the logging thread) for ever
        return super()._open()


class DroppingQueueHandler(logging.handlers.QueueHandler):
    """Hands records to the logging thread; drops them rather than wait when it falls behind
    (e.g. a stderr pipe nobody reads must never stall the gateway)."""

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            pass


class ConsoleHandler(logging.Handler):
    """Log lines on the terminal (stderr), written as ``terminal.write_line`` does: a pipe nobody reads
    drops them rather than stopping the log's thread (and with it a quit, which waits for that thread)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            write_line(self._stream, self.format(record))
        except Exception:  # a record that cannot be formatted: logging's own report
            self.handleError(record)


class _StartRecords(logging.Handler):
    """What a start logs before its log file is set up — the repairs it made to the user's files among it:
    kept for the file, and each warning said on stderr at once, as Python's own last resort says it."""

    LIMIT = 1_000

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.records) < self.LIMIT:
            self.records.append(record)
        if record.levelno >= logging.WARNING and sys.stderr is not None:
            write_line(sys.stderr, self.format(record))


@contextlib.contextmanager
def start_records_held() -> Iterator[None]:
    """What is logged from here until ``setup_logging`` is kept for the log file; a start that fails inside
    (no log file to come) drops what was held."""
    root = logging.getLogger()
    if not any(isinstance(h, _StartRecords) for h in root.handlers):
        root.addHandler(_StartRecords())
        root.setLevel(logging.INFO)
    try:
        yield
    except BaseException:
        take_start_records()
        raise


def take_start_records() -> list[logging.LogRecord]:
    """The records held since ``start_records_held`` (none: not held); no more are held."""
    root, taken = logging.getLogger(), []
    for handler in [h for h in root.handlers if isinstance(h, _StartRecords)]:
        root.removeHandler(handler)
        taken += handler.records
    return taken


class LogThread(logging.handlers.QueueListener):
    """The thread that writes the log. Stopping it waits a bounded time (a write that never returns must
    not hold a quit up; the thread is a daemon and ends with the process), then closes the log file."""

    def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        try:
            self.enqueue_sentinel()
        except queue.Full:  # the thread is stuck: nothing more is written
            pass
        thread.join(STOP_SECONDS)
        self._thread = None
        if thread.is_alive():  # logging's own clean-up at exit takes each handler's lock, which it holds
            atexit.unregister(logging.shutdown)
            return
        for handler in self.handlers:
            handler.close()


STOP_SECONDS = 2.0


def setup_logging(services: Services, *, console: bool) -> LogThread:
    """Log to ``data/api-router.log`` (rotated) and optionally stderr, from a thread of its own so
    file and terminal writes never block the event loop. Returns the listener to stop at exit."""
    formatter = RedactingFormatter(services.redactor)
    held = take_start_records()  # stderr has had their warnings already
    try:
        private_dir(services.paths.data)
        log_file = PrivateRotatingFileHandler(
            services.paths.data / "api-router.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    except OSError as exc:  # the log is a folder, or not ours to write
        raise StartupError.of(exc, services.paths) from exc
    handlers: list[logging.Handler] = [log_file]
    if console and sys.stderr is not None:
        handlers.append(ConsoleHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
    for record in held:
        log_file.handle(record)
    records: queue.Queue[logging.LogRecord] = queue.Queue(maxsize=10_000)
    listener = LogThread(records, *handlers, respect_handler_level=True)
    listener.start()
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(DroppingQueueHandler(records))
    root.setLevel(logging.INFO)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return listener
