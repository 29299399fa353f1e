"""One instance per user-data folder, desktop or headless.

The first process takes an OS lock on ``data/instance.lock`` and keeps it for its lifetime; the
OS drops it when the process dies, so a crashed run never blocks the next start. The first process
also listens on a loopback port and writes ``{"pid", "gateway_port", "show_port", "nonce"}`` into
the lock file. A later process that cannot take the lock reads that, connects to ``show_port``
and sends ``show <nonce>``; the first process shows its window and the later one exits. A headless
instance has no window: it publishes show port 0, and a later start is refused at once. A first
process that is quitting answers ``quitting`` instead of showing anything: the later one then keeps
waiting for the lock (the first releases it once its gateway has drained) and becomes the instance.

The nonce keeps anything that cannot read the user's data folder (other users, web pages poking at
loopback ports) from driving the window.

Locks: ``fcntl.flock`` on POSIX. On Windows ``msvcrt.locking`` locks a byte range, and a locked
range cannot be read by anyone else, so the lock sits on one byte far beyond the JSON (the trick
SQLite uses) and the JSON stays readable.
"""

from __future__ import annotations

import errno
import hmac
import json
import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from api_router.fsutil import private_dir
from api_router.terminal import alert, say

log = logging.getLogger(__name__)

WINDOWS_LOCK_OFFSET = 1 << 30
NO_WINDOW = 0  # the show port a headless instance publishes
SHOW_REQUEST = b"show "
SHOW_REPLY = b"ok\n"
QUITTING_REPLY = b"quitting\n"
MAX_REQUEST = 256


class OsLock(Protocol):
    def try_lock(self, fd: int) -> bool: ...

    def unlock(self, fd: int) -> None: ...


class PosixLock:
    def __init__(self, fcntl_module: ModuleType | None = None) -> None:
        if fcntl_module is None:
            import fcntl as fcntl_module
        self._fcntl: Any = fcntl_module

    def try_lock(self, fd: int) -> bool:
        try:
            self._fcntl.flock(fd, self._fcntl.LOCK_EX | self._fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    def unlock(self, fd: int) -> None:
        self._fcntl.flock(fd, self._fcntl.LOCK_UN)


class WindowsLock:
    def __init__(self, msvcrt_module: ModuleType | None = None) -> None:
        if msvcrt_module is None:
            import msvcrt as msvcrt_module  # type: ignore[no-redef,unused-ignore]
        self._msvcrt: Any = msvcrt_module

    def try_lock(self, fd: int) -> bool:
        os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            self._msvcrt.locking(fd, self._msvcrt.LK_NBLCK, 1)
        except OSError:  # PermissionError (EACCES) when another process holds it
            return False
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
        return True

    def unlock(self, fd: int) -> None:
        os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            self._msvcrt.locking(fd, self._msvcrt.LK_UNLCK, 1)
        finally:
            os.lseek(fd, 0, os.SEEK_SET)


def os_lock() -> OsLock:
    return WindowsLock() if os.name == "nt" else PosixLock()


@dataclass(frozen=True)
class InstanceInfo:
    pid: int
    show_port: int
    nonce: str
    gateway_port: int | None = None
    quitting: bool = False  # a headless instance shutting down (a window's says so through its show channel)

    @property
    def headless(self) -> bool:
        return self.show_port == NO_WINDOW

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> InstanceInfo:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        pid, show_port, nonce = data.get("pid"), data.get("show_port"), data.get("nonce")
        gateway_port = data.get("gateway_port")
        if not (isinstance(pid, int) and isinstance(show_port, int) and isinstance(nonce, str) and nonce
                and (gateway_port is None or isinstance(gateway_port, int))):
            raise ValueError("missing or mistyped fields")
        return cls(pid, show_port, nonce, gateway_port, data.get("quitting") is True)


class InstanceLock:
    """The lock file: held by the running instance, read by the ones that start after it."""

    def __init__(self, path: Path, lock: OsLock | None = None) -> None:
        self.path = path
        self._lock = lock or os_lock()
        self._fd: int | None = None
        self._published: InstanceInfo | None = None  # what ``keep`` writes into a lock file made anew
        self._guard = threading.RLock()  # ``keep`` runs on the file watcher's thread
        self._said: str | None = None  # what ``keep`` last logged of a lock file it could not take again

    def acquire(self) -> bool:
        """Take the lock; False when another live process holds it."""
        if self._fd is not None:
            return True
        private_dir(self.path.parent)  # data/ (user-data/ too) deleted while running: made private again
        # No O_TRUNC: the file may belong to the running instance, whose info must survive.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        try:
            if not self._lock.try_lock(fd):
                os.close(fd)
                return False
            # Ours now: what a killed instance published is gone (a later start must not take its pid and port
            # for this one's while this one starts; it waits for what this one publishes).
            os.ftruncate(fd, 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def publish(self, info: InstanceInfo) -> None:
        """Tell the starts that come after this one how to reach it; an OSError (a full disk) names the file."""
        with self._guard:
            self._publish(info)

    def _publish(self, info: InstanceInfo) -> None:
        if self._fd is None:
            raise RuntimeError("publish() needs the lock")
        data = info.to_json()
        try:
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)
            os.write(self._fd, data)
            os.fsync(self._fd)
        except OSError as exc:
            raise type(exc)(exc.errno, exc.strerror, str(self.path)) from None
        self._published = info

    def keep(self) -> None:
        """Take the lock again when its file was deleted or replaced while this instance runs (``data/``
        cleared by hand or by a clean-up tool): a lock on a file no longer there keeps no later start out,
        and two instances would share one folder. Called every half second by the file watcher; a start
        within that moment can still slip in, and is then logged."""
        with self._guard:
            self._keep()

    def _keep(self) -> None:
        fd = self._fd
        if fd is None:
            return
        try:
            held, named = os.fstat(fd), os.stat(self.path)
            if (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino):
                return
        except FileNotFoundError:
            pass
        except OSError:  # cannot be looked at now (a folder closed): nothing to be done about it here
            return
        again = InstanceLock(self.path, self._lock)
        try:
            taken = again.acquire()
            if taken and self._published is not None:
                again.publish(self._published)
        except OSError as exc:
            again.release()  # taken but not published (a full disk): not kept half made
            self._say_once(f"{self.path} was deleted and cannot be made again: {exc.strerror or exc}")
            return
        if not taken:
            self._say_once(f"{self.path} was deleted while API Router ran, and another start has taken it since: "
                           "two instances may now share this user-data folder", error=True)
            return
        log.warning("%s was deleted while API Router ran; it was made again", self.path)
        self._said = None
        self._fd, again._fd = again._fd, None
        os.close(fd)

    def publish_port(self, info: InstanceInfo, port: int) -> None:
        """Add the gateway's port once it listens. Only a hint for a later start (which then reports it):
        failing to write it must not stop a gateway that serves."""
        try:
            self.publish(replace(info, gateway_port=port))
        except OSError as exc:
            log.warning("could not note the gateway's port in %s: %s", self.path, exc.strerror or exc)

    def mark_quitting(self) -> None:
        """A headless instance begins to shut down: a start from now on waits for it to exit (up to its
        hand-off wait) rather than being refused as a second instance. Only a hint: failing to write it
        must not hold up the shutdown."""
        info = self.read_info()
        if info is None or self._fd is None:
            return
        try:
            self.publish(replace(info, quitting=True))
        except OSError as exc:
            log.warning("could not note the shutdown in %s: %s", self.path, exc.strerror or exc)

    def read_info(self) -> InstanceInfo | None:
        """What the running instance published; None while it has not (yet) or the file is torn."""
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read(4096)
            return InstanceInfo.from_json(raw) if raw.strip() else None
        except (OSError, ValueError):
            return None

    def _say_once(self, message: str, *, error: bool = False) -> None:
        """Logged once, not at every look of the watcher while it stays so."""
        if message != self._said:
            self._said = message
            (log.error if error else log.warning)("%s", message)

    def release(self) -> None:
        with self._guard:
            self._release()

    def _release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # a later reader must not find this run's port and nonce
            self._lock.unlock(fd)
        except OSError as exc:
            log.warning("releasing the instance lock: %s", exc)
        finally:
            os.close(fd)


class ShowServer:
    """Loopback listener of the running instance; each authenticated request calls ``on_show``, or is
    answered ``quitting`` (and shows nothing) once ``quitting()`` says so."""

    def __init__(self, nonce: str, on_show: Callable[[], None], *, host: str = "127.0.0.1",
                 quitting: Callable[[], bool] = lambda: False) -> None:
        self._nonce = nonce.encode()
        self._on_show = on_show
        self._quitting = quitting
        self._told_quitting = False
        self._host = host
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> int:
        self._sock = socket.create_server((self._host, 0))
        self._thread = threading.Thread(target=self._serve, name="show-channel", daemon=True)
        self._thread.start()
        return int(self._sock.getsockname()[1])

    def stop(self) -> None:
        self._stopping.set()
        if self._sock is not None:
            try:
                # Linux keeps a listening socket alive in a blocked accept() after close(); shutdown()
                # wakes it (Windows wakes on close()).
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        if self._thread is not None:
            self._thread.join(2.0)

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if self._stopping.is_set():
                conn.close()
                return
            with conn:
                try:
                    self._handle(conn)
                except OSError as exc:
                    log.debug("show channel: %s", exc)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(2.0)
        data = b""
        while b"\n" not in data and len(data) < MAX_REQUEST:
            chunk = conn.recv(MAX_REQUEST)
            if not chunk:
                break
            data += chunk
        line = data.split(b"\n", 1)[0]
        if not (line.startswith(SHOW_REQUEST) and hmac.compare_digest(line[len(SHOW_REQUEST):], self._nonce)):
            log.warning("show channel: refused a request without the right nonce")
            return
        if self._quitting():
            # "Shown" would make the new start exit, and this one is about to: nothing would be left.
            # It asks again every 0.1 s until this one is gone: one line in the log is enough.
            log.log(logging.DEBUG if self._told_quitting else logging.INFO,
                    "another start of API Router asked to show the window; told it this one is quitting")
            self._told_quitting = True
            conn.sendall(QUITTING_REPLY)
            return
        log.info("another start of API Router asked to show the window")
        # Answer at once: showing can wait for the GUI loop, and the asker gives up after a few seconds.
        threading.Thread(target=self._on_show, name="show-window", daemon=True).start()
        conn.sendall(SHOW_REPLY)


class ShowReply(StrEnum):
    SHOWN = "shown"
    QUITTING = "quitting"      # the running instance is on its way out: wait for its lock
    NO_ANSWER = "no answer"    # not listening (yet, or any more), a wrong nonce, or hung


def let_take_the_foreground(platform: str) -> Callable[[int], None]:
    """How this start lets the running instance (a pid) bring its window to the front. Windows hands the
    foreground only to the process the user last acted in — this start, by a double-click — unless that
    one grants it (AllowSetForegroundWindow): without it the shown window only flashed in the taskbar.
    Elsewhere nothing is needed."""
    if platform != "win32":
        return lambda pid: None

    def grant(pid: int) -> None:
        import ctypes

        try:
            ctypes.windll.user32.AllowSetForegroundWindow(pid)  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            pass

    return grant


def ask_to_show(info: InstanceInfo, *, timeout: float = 3.0, host: str = "127.0.0.1",
                grant: Callable[[int], None] | None = None) -> ShowReply:
    """``grant``: lets the running instance take the foreground (default: as this platform needs)."""
    (grant or let_take_the_foreground(sys.platform))(info.pid)
    try:
        with socket.create_connection((host, info.show_port), timeout=timeout) as conn:
            conn.sendall(SHOW_REQUEST + info.nonce.encode() + b"\n")
            reply = conn.recv(16)
    except OSError:
        return ShowReply.NO_ANSWER
    return {SHOW_REPLY: ShowReply.SHOWN, QUITTING_REPLY: ShowReply.QUITTING}.get(reply, ShowReply.NO_ANSWER)


def new_nonce() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True)
class Handoff:
    """What happened when this process could not become the running instance."""

    shown: bool
    info: InstanceInfo | None
    quitting: bool = False  # it said it was quitting, but still held the lock when the wait ran out


def claim_or_hand_off(lock: InstanceLock, *, wait: float = 10.0, poll: float = 0.1,
                      monotonic: Callable[[], float] = time.monotonic,
                      sleep: Callable[[float], None] = time.sleep) -> Handoff | None:
    """Take the lock (None: we are the instance now) or get the running one to show its window.

    The running instance may still be starting (lock taken, info not written yet) or may be exiting
    (quitting, or info gone and lock about to be released), so keep trying both for up to ``wait``
    seconds.
    """
    deadline = monotonic() + wait
    info: InstanceInfo | None = None
    quitting = False
    while True:
        if lock.acquire():
            return None
        current = lock.read_info()
        if current is not None:
            info = current
            if current.headless and not current.quitting:
                return Handoff(False, current)
            reply = ShowReply.QUITTING if current.headless else ask_to_show(current)
            if reply is ShowReply.SHOWN:
                return Handoff(True, current)
            quitting = reply is ShowReply.QUITTING
        if monotonic() >= deadline:
            return Handoff(False, info, quitting)
        sleep(poll)


def reported_handoff(handoff: Handoff) -> int:
    """Say what a start that found another instance did (a failure where the user will see it, also without
    a console); its exit code."""
    message, code = handoff_report(handoff)
    if code == 0:
        say(f"api-router: {message}", error=True)
    else:
        alert(f"api-router: {message}")
    return code


def handoff_report(handoff: Handoff) -> tuple[str, int]:
    """What a start that found another instance says, and its exit code."""
    if handoff.shown:
        return "already running; showed its window", 0
    info = handoff.info
    if info is not None and info.headless and not handoff.quitting:
        where = f", gateway on port {info.gateway_port}" if info.gateway_port else ""
        return (f"another API Router (pid {info.pid}{where}) runs headless with this user-data folder; stop it "
                "first (Ctrl-C in its terminal, or end that process), or start with another --user-data"), 1
    pid = f" (pid {info.pid})" if info else ""
    if handoff.quitting:
        return (f"another API Router{pid} is still quitting and holds this user-data folder; start again once "
                "it has exited"), 1
    return (f"another API Router{pid} holds this user-data folder but did not answer; quit it from its tray "
            "icon or end that process"), 1
