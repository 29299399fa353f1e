"""Single-instance promises the existing tests leave open (README "Desktop app": "while it is shutting
down, the start waits for it as for a window's"): found by mutation testing of desktop/instance.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from api_router.desktop.instance import NO_WINDOW, InstanceInfo, InstanceLock, claim_or_hand_off, handoff_report

posix_only = pytest.mark.skipif(os.name == "nt", reason="fcntl.flock")


@posix_only
def test_a_start_that_outwaits_a_quitting_headless_instance_says_it_is_still_quitting(tmp_path: Path) -> None:
    """A headless instance that is shutting down is waited for (not refused at once as a second instance), and
    a start that outwaits it says it is still quitting — not that it runs headless and should be stopped."""
    path = tmp_path / "instance.lock"
    running = InstanceLock(path)
    assert running.acquire()
    running.publish(InstanceInfo(pid=4242, show_port=NO_WINDOW, nonce="n" * 32, gateway_port=4100, quitting=True))
    try:
        clock = iter(range(100))
        slept: list[float] = []
        handoff = claim_or_hand_off(InstanceLock(path), wait=3, monotonic=lambda: next(clock), sleep=slept.append)
        assert slept, "a quitting headless instance is waited for"
        assert handoff is not None and not handoff.shown and handoff.quitting
        message, code = handoff_report(handoff)
        assert code == 1 and message.startswith("another API Router (pid 4242) is still quitting"), message
    finally:
        running.release()


def test_on_windows_with_a_console_the_refusal_is_a_line_on_stderr_not_a_message_box(
        capsys: pytest.CaptureFixture[str]) -> None:
    """README: the Windows executable, "which has no console, says such a refusal in a message box" — a start
    from a console (``--headless`` typed in a terminal: stderr attached) says it there, and no box pops up."""
    from api_router.terminal import alert

    boxes: list[str] = []
    alert("api-router: no answer", platform="win32", box=boxes.append)
    assert boxes == []
    assert "api-router: no answer" in capsys.readouterr().err
