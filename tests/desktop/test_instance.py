"""Single-instance lock and show channel (no GUI): real files, real sockets, real processes."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from api_router.desktop.instance import (
    NO_WINDOW,
    WINDOWS_LOCK_OFFSET,
    Handoff,
    InstanceInfo,
    InstanceLock,
    ShowReply,
    ShowServer,
    WindowsLock,
    ask_to_show,
    claim_or_hand_off,
    handoff_report,
)
from tests.desktop.fakes import FakeMsvcrt

posix_only = pytest.mark.skipif(os.name == "nt", reason="fcntl.flock")


def info(port: int = 1, nonce: str = "n" * 32) -> InstanceInfo:
    return InstanceInfo(pid=os.getpid(), show_port=port, nonce=nonce, gateway_port=4000)


@contextmanager
def running_instance(path: Path, on_show: Callable[[], None], *, pid: int = os.getpid(),
                     gateway_port: int | None = 4000,
                     quitting: Callable[[], bool] = lambda: False) -> Iterator[tuple[InstanceLock, ShowServer]]:
    """Another instance: it holds the lock at ``path``, its show channel listens and its info is published."""
    running = InstanceLock(path)
    assert running.acquire()
    server = ShowServer("n" * 32, on_show, quitting=quitting)
    running.publish(InstanceInfo(pid=pid, show_port=server.start(), nonce="n" * 32, gateway_port=gateway_port))
    try:
        yield running, server
    finally:
        server.stop()
        running.release()


@posix_only
def test_second_holder_is_refused_until_release(tmp_path: Path) -> None:
    path = tmp_path / "data" / "instance.lock"
    first, second = InstanceLock(path), InstanceLock(path)
    assert first.acquire()
    assert not second.acquire()  # flock is per open file: a second open is refused, even in-process
    first.publish(info())
    assert second.read_info() == info()
    first.release()
    assert path.read_bytes() == b""  # nobody finds a dead run's port and nonce
    assert second.acquire()
    second.release()


@posix_only
def test_lock_of_a_killed_process_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / "instance.lock"
    code = ("import sys, time; from pathlib import Path; from api_router.desktop.instance import *; "
            "lock = InstanceLock(Path(sys.argv[1])); assert lock.acquire(); "
            "lock.publish(InstanceInfo(pid=1, show_port=9, nonce='x')); print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert not InstanceLock(path).acquire()
        holder.kill()  # a crash: no release, the file still names the dead process
        holder.wait()
        assert json.loads(path.read_text())["show_port"] == 9
        lock = InstanceLock(path)
        assert lock.acquire()
        # What the dead one published is gone at once: a start meanwhile waits for this one's, rather than
        # taking the dead pid for the running instance (the desktop publishes only once its GUI has loaded).
        assert lock.read_info() is None and path.read_bytes() == b""
        lock.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_torn_or_foreign_lock_file_reads_as_nothing(tmp_path: Path) -> None:
    path = tmp_path / "instance.lock"
    lock = InstanceLock(path)
    for content in (b"", b'{"pid": 1, "show', b"[]", b'{"pid": "1", "show_port": 2, "nonce": "x"}', b"\xff\xfe"):
        path.write_bytes(content)
        assert lock.read_info() is None
    assert InstanceLock(tmp_path / "missing").read_info() is None


def test_show_channel_needs_the_nonce(tmp_path: Path) -> None:
    shown = threading.Event()
    server = ShowServer("secret-nonce", shown.set)
    port = server.start()
    try:
        assert ask_to_show(InstanceInfo(pid=1, show_port=port, nonce="wrong")) is ShowReply.NO_ANSWER
        assert not shown.wait(0.3)
        assert ask_to_show(InstanceInfo(pid=1, show_port=port, nonce="secret-nonce")) is ShowReply.SHOWN
        assert shown.wait(5)
    finally:
        server.stop()
    assert ask_to_show(InstanceInfo(pid=1, show_port=port, nonce="secret-nonce"), timeout=0.5) is ShowReply.NO_ANSWER


def test_on_windows_the_start_that_asks_lets_the_running_instance_take_the_foreground(monkeypatch) -> None:
    """Windows gives the foreground only to the process the user last acted in (the second start) unless it
    grants it on: the shown window came up behind the others, flashing in the taskbar."""
    import ctypes
    from types import SimpleNamespace

    from api_router.desktop.instance import let_take_the_foreground

    granted: list[int] = []
    monkeypatch.setattr(ctypes, "windll", SimpleNamespace(user32=SimpleNamespace(
        AllowSetForegroundWindow=granted.append)), raising=False)
    let_take_the_foreground("linux")(4242)
    assert granted == []
    let_take_the_foreground("win32")(4242)
    assert granted == [4242]
    server = ShowServer("n", lambda: None)
    port = server.start()
    try:
        asked: list[int] = []
        assert ask_to_show(InstanceInfo(pid=77, show_port=port, nonce="n"), grant=asked.append) is ShowReply.SHOWN
        assert asked == [77]
    finally:
        server.stop()


def test_show_channel_answers_before_the_window_is_ready() -> None:
    # Showing may wait for the GUI loop; the asking process must not time out meanwhile.
    release = threading.Event()
    server = ShowServer("n", lambda: release.wait(10))
    port = server.start()
    try:
        started = time.monotonic()
        assert ask_to_show(InstanceInfo(pid=1, show_port=port, nonce="n"), timeout=2) is ShowReply.SHOWN
        assert time.monotonic() - started < 1.5
    finally:
        release.set()
        server.stop()


@posix_only
def test_claim_or_hand_off(tmp_path: Path) -> None:
    path = tmp_path / "instance.lock"
    alone = InstanceLock(path)
    assert claim_or_hand_off(alone, wait=0) is None  # nobody there: we are the instance
    alone.release()
    shown = threading.Event()
    with running_instance(path, shown.set) as (_, server):
        handoff = claim_or_hand_off(InstanceLock(path), wait=2)
        assert handoff is not None and handoff.shown and handoff.info == info(handoff.info.show_port)
        assert shown.wait(5)
        server.stop()
        # The holder stopped answering (hung): give up after the wait and say who it is.
        clock = iter(range(100))
        handoff = claim_or_hand_off(InstanceLock(path), wait=3, monotonic=lambda: next(clock), sleep=lambda _: None)
        assert handoff is not None and not handoff.shown and handoff.info is not None


@posix_only
def test_a_headless_holder_is_reported_at_once_with_no_window_to_show(tmp_path: Path) -> None:
    path = tmp_path / "instance.lock"
    running = InstanceLock(path)
    assert running.acquire()
    running.publish(InstanceInfo(pid=4242, show_port=NO_WINDOW, nonce="n" * 32, gateway_port=4100))
    try:
        clock = iter(range(100))
        handoff = claim_or_hand_off(InstanceLock(path), wait=60, monotonic=lambda: next(clock),
                                    sleep=lambda _: pytest.fail("waited for a window a headless instance has not"))
        assert handoff is not None and not handoff.shown and handoff.info is not None and handoff.info.headless
        message, code = handoff_report(handoff)
        assert code == 1 and message.startswith(
            "another API Router (pid 4242, gateway on port 4100) runs headless with this user-data folder")
        assert handoff_report(Handoff(True, None)) == ("already running; showed its window", 0)
    finally:
        running.release()


@posix_only
def test_hand_off_waits_for_a_starting_instance(tmp_path: Path) -> None:
    # The other process holds the lock but has not written its info yet.
    path = tmp_path / "instance.lock"
    running = InstanceLock(path)
    assert running.acquire()
    shown = threading.Event()
    server = ShowServer("late", shown.set)
    port = server.start()
    timer = threading.Timer(0.4, lambda: running.publish(InstanceInfo(pid=1, show_port=port, nonce="late")))
    timer.start()
    try:
        handoff = claim_or_hand_off(InstanceLock(path), wait=5, poll=0.05)
        assert handoff is not None and handoff.shown
    finally:
        timer.join()
        server.stop()
        running.release()


def test_a_quitting_instance_answers_quitting_and_shows_nothing() -> None:
    shown, quitting = threading.Event(), threading.Event()
    server = ShowServer("n", shown.set, quitting=quitting.is_set)
    port = server.start()
    try:
        quitting.set()
        assert ask_to_show(InstanceInfo(pid=1, show_port=port, nonce="n")) is ShowReply.QUITTING
        assert ask_to_show(InstanceInfo(pid=1, show_port=port, nonce="n")) is not ShowReply.SHOWN
        assert not shown.wait(0.3)
        # the nonce is still checked first
        assert ask_to_show(InstanceInfo(pid=1, show_port=port, nonce="wrong")) is ShowReply.NO_ANSWER
    finally:
        server.stop()


@posix_only
def test_a_start_while_the_running_instance_quits_waits_and_becomes_the_instance(tmp_path: Path) -> None:
    """Started again during Quit (the gateway drains for up to 5 s): the new start must not take
    "shown" for an answer and exit, or nothing is left running once the first one is gone."""
    path = tmp_path / "instance.lock"
    shown = threading.Event()
    with running_instance(path, shown.set, quitting=lambda: True) as (running, server):
        def exit_first() -> None:  # what the quitting instance does once drained
            server.stop()
            running.release()
        timer = threading.Timer(0.6, exit_first)
        timer.start()
        second = InstanceLock(path)
        try:
            assert claim_or_hand_off(second, wait=5, poll=0.05) is None  # the lock is ours now
            assert not shown.is_set()
        finally:
            timer.join()
            second.release()


@posix_only
def test_a_start_that_outwaits_a_quitting_instance_says_so(tmp_path: Path) -> None:
    path = tmp_path / "instance.lock"
    with running_instance(path, lambda: None, pid=4242, gateway_port=None, quitting=lambda: True):
        clock = iter(range(100))
        handoff = claim_or_hand_off(InstanceLock(path), wait=3, monotonic=lambda: next(clock), sleep=lambda _: None)
        assert handoff is not None and not handoff.shown and handoff.quitting
        message, code = handoff_report(handoff)
        assert code == 1 and message.startswith("another API Router (pid 4242) is still quitting")


# --- Windows: msvcrt.locking, exercised through a faithful fake ---------------------------------


def test_windows_lock_sits_far_from_the_info(tmp_path: Path) -> None:
    msvcrt = FakeMsvcrt()
    path = tmp_path / "instance.lock"
    first, second = InstanceLock(path, WindowsLock(msvcrt)), InstanceLock(path, WindowsLock(msvcrt))
    assert first.acquire()
    assert msvcrt.calls == [(msvcrt.LK_NBLCK, WINDOWS_LOCK_OFFSET, 1)]
    first.publish(info())
    # On Windows a locked range cannot be read; the info starts at 0, far from the locked byte.
    assert path.stat().st_size < WINDOWS_LOCK_OFFSET
    assert not second.acquire()
    assert second.read_info() == info()
    first.release()
    assert msvcrt.calls[-1] == (msvcrt.LK_UNLCK, WINDOWS_LOCK_OFFSET, 1)
    assert second.acquire()
    second.release()
    assert msvcrt.held == {}


def test_windows_lock_leaves_the_file_position_at_the_start(tmp_path: Path) -> None:
    msvcrt = FakeMsvcrt()
    lock = WindowsLock(msvcrt)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        assert lock.try_lock(fd)
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0
        lock.unlock(fd)
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0
    finally:
        os.close(fd)


def test_a_start_that_cannot_go_on_says_why_even_without_a_console(monkeypatch, capsys) -> None:
    """Windows' windowed executable has no stderr: a double-click that found another instance not answering
    (or one running headless) exited 1 without a word. Said in a message box there; on stderr elsewhere."""
    import sys

    from api_router.desktop.instance import Handoff, reported_handoff
    from api_router.terminal import alert

    boxes: list[str] = []
    monkeypatch.setattr(sys, "stderr", None)
    alert("api-router: no answer", platform="win32", box=boxes.append)
    alert("api-router: not on Windows", platform="linux", box=boxes.append)  # nowhere to say it: dropped
    assert boxes == ["api-router: no answer"]
    monkeypatch.setattr("api_router.terminal._message_box", boxes.append)
    monkeypatch.setattr(sys, "platform", "win32")
    headless = InstanceInfo(pid=42, show_port=0, nonce="n", gateway_port=4000)
    assert reported_handoff(Handoff(False, headless)) == 1
    assert len(boxes) == 2 and "pid 42" in boxes[1] and "runs headless" in boxes[1]
    assert reported_handoff(Handoff(True, InstanceInfo(pid=7, show_port=1, nonce="n"))) == 0
    assert len(boxes) == 2  # showing the running window needs no box
    monkeypatch.undo()
    assert reported_handoff(Handoff(False, None)) == 1
    assert "did not answer" in capsys.readouterr().err


@posix_only
def test_a_lock_file_deleted_or_replaced_is_taken_again_unless_another_start_took_it(tmp_path: Path, caplog) -> None:
    path = tmp_path / "data" / "instance.lock"
    running = InstanceLock(path)
    assert running.acquire()
    running.publish(info())
    running.keep()  # its own file: nothing to do
    for replaced in (False, True):  # deleted; replaced (a new file in its place)
        path.unlink()
        if replaced:
            path.write_bytes(b"{}")
        running.keep()
        later = InstanceLock(path)
        assert not later.acquire() and later.read_info() == info()
    path.unlink()
    later = InstanceLock(path)
    assert later.acquire()  # a start slipped in before the next look: not taken from it, but said — once
    for _ in range(3):
        running.keep()
    assert caplog.text.count("another start has taken it since") == 1
    later.release()
    running.release()


@posix_only
def test_a_lock_file_that_cannot_be_written_again_is_not_left_locked_and_empty(tmp_path: Path, monkeypatch,
                                                                               caplog) -> None:
    path = tmp_path / "data" / "instance.lock"
    running = InstanceLock(path)
    assert running.acquire()
    running.publish(info())
    path.unlink()
    monkeypatch.setattr(InstanceLock, "_publish", lambda self, info: (_ for _ in ()).throw(OSError(28, "No space")))
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        running.keep()
    assert len(os.listdir("/proc/self/fd")) == fds  # the file made again is closed, not held half made
    assert caplog.text.count("cannot be made again: No space") == 1
    monkeypatch.undo()
    running.release()


@posix_only
def test_folders_the_lock_makes_again_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """user-data/ (and data/ in it) deleted while the app runs: the lock file made again lies in folders
    made owner-only, as at start — an ordinary shell's umask (022) would leave them readable to all."""
    user_data = tmp_path / "user-data"
    path = user_data / "data" / "instance.lock"
    running = InstanceLock(path)
    old = os.umask(0o022)
    try:
        assert running.acquire()
        running.publish(info())
        shutil.rmtree(user_data)
        running.keep()
    finally:
        os.umask(old)
        running.release()
    assert [stat.S_IMODE(p.stat().st_mode) for p in (user_data, path.parent)] == [0o700, 0o700]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
