"""Whether the tray icon would be visible: the probes against a real session bus with a StatusNotifier
watcher (tests/desktop/sni_watcher.py), and which kind of tray each pystray backend needs."""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from api_router.desktop.tray import tray_host_present


@contextmanager
def watcher(env: dict[str, str], *, host_registered: bool) -> Iterator[None]:
    script = Path(__file__).with_name("sni_watcher.py")
    proc = subprocess.Popen([sys.executable, str(script), "true" if host_registered else "false"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if not select.select([proc.stdout], [], [], 15)[0] or proc.stdout.readline().strip() != "ready":
            proc.kill()
            raise AssertionError(f"the test watcher did not start: {proc.communicate(timeout=5)[1]}")
        yield
    finally:
        proc.terminate()
        proc.communicate(timeout=5)


def sni_probe(env: dict[str, str]) -> str:
    """sni_host_present() in a process of its own: GLib keeps the first session bus a process connects to."""
    code = "from api_router.desktop.tray import sni_host_present; print(sni_host_present())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_statusnotifier_watcher_without_a_host_shows_nothing(bus: dict[str, str]) -> None:
    """KDE's kded started on demand in another desktop owns the watcher's name with no host behind it: an
    AppIndicator icon would be shown nowhere, and a window hidden to it unreachable."""
    assert sni_probe(bus) == "False"
    with watcher(bus, host_registered=False):
        assert sni_probe(bus) == "False"
    with watcher(bus, host_registered=True):
        assert sni_probe(bus) == "True"


def test_the_tray_asked_for_is_the_kind_the_icon_shows_in() -> None:
    """The backend was chosen at start: a StatusNotifier host that appears later shows nothing of GTK's
    status icon (closing the window must then quit, not hide it), nor an XEmbed tray an AppIndicator."""
    sni_only = {"sni": lambda: True, "xembed": lambda: False}
    xembed_only = {"sni": lambda: False, "xembed": lambda: True}
    assert not tray_host_present("linux", "gtk", **sni_only)
    assert tray_host_present("linux", "gtk", **xembed_only)
    assert tray_host_present("linux", "appindicator", **sni_only)
    assert not tray_host_present("linux", "appindicator", **xembed_only)
    assert tray_host_present("linux", None, **sni_only) and tray_host_present("linux", None, **xembed_only)
    assert tray_host_present("win32", "win32", sni=lambda: False, xembed=lambda: False)
