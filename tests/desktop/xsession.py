"""A private X session for the desktop tests: Xvfb, a D-Bus session bus and trayer as the tray,
plus the xdotool/Xlib moves a user would make (tray clicks, closing the window, screenshots).

Xvfb has no window manager, so "close" is the WM_DELETE_WINDOW message a window manager would send,
and a window is visible when it is mapped (``xdotool search --onlyvisible``).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support import tools

T = TypeVar("T")


def _x(query: Callable[[], T]) -> T | None:
    """One X request about a window that may be destroyed meanwhile: None when it is gone."""
    from Xlib import error

    try:
        return query()
    except (error.BadWindow, error.BadDrawable, error.BadMatch, error.BadValue):
        return None


def _children(window: Any) -> list[Any]:
    tree = _x(window.query_tree)
    return list(tree.children) if tree is not None else []

TITLE_RE = "^API Router$"
TOOLS = ["Xvfb", "dbus-daemon", "dbus-send", "trayer", "xdotool", "import"]
# The tray plug of a GTK status icon carries the app's name too; real windows are wider than this.
MIN_WINDOW_WIDTH = 200


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Nobody listens and a new server could listen there (as servers do, with SO_REUSEADDR: the
    connections the old one closed may sit in TIME_WAIT for a minute)."""
    with socket.socket() as s:
        s.settimeout(2)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class Geometry:
    wid: int
    x: int
    y: int
    width: int
    height: int


@dataclass
class XSession:
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def start(cls, *, timeout: float = 15.0) -> XSession:
        read_fd, write_fd = os.pipe()
        xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp",
                                 "-noreset"],
                                pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write_fd)
        session = cls(env={}, procs=[xvfb])
        try:
            with os.fdopen(read_fd, "rb") as pipe:
                number = pipe.readline().strip().decode()
            if not number:
                raise RuntimeError("Xvfb did not start")
            env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "XAUTHORITY", "PYSTRAY_BACKEND")}
            env["DISPLAY"] = f":{number}"
            dbus, env["DBUS_SESSION_BUS_ADDRESS"] = start_session_bus(env)
            session.procs.append(dbus)
            session.env = env
            session.procs.append(subprocess.Popen(
                ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "32",
                 "--transparent", "false", "--tint", "0x203040", "--SetDockType", "true"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for(session.tray_owned, timeout, "trayer to own _NET_SYSTEM_TRAY_S0")
        except BaseException:
            session.stop()
            raise
        return session

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self.procs.clear()

    # --- X queries -------------------------------------------------------------------------------

    def _xlib(self):  # type: ignore[no-untyped-def]
        from Xlib import display, error

        dpy = display.Display(self.env["DISPLAY"])

        def ignore_vanished(err: Exception, request: object) -> None:
            # Errors of requests without a reply (send_event to a window that just closed) arrive
            # here, later; the request was about a window that is gone, which is no failure.
            if not isinstance(err, (error.BadWindow, error.BadDrawable)):
                print(f"X error: {err}", file=sys.stderr)

        dpy.set_error_handler(ignore_vanished)
        return dpy

    def tray_owned(self) -> bool:
        from Xlib import X

        dpy = self._xlib()
        try:
            owner = dpy.get_selection_owner(dpy.intern_atom("_NET_SYSTEM_TRAY_S0"))
            return getattr(owner, "id", owner) not in (0, X.NONE)
        finally:
            dpy.close()

    def xdotool(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=10)
        if check and result.returncode != 0:
            raise AssertionError(f"xdotool {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def geometry(self, wid: int) -> Geometry | None:
        out = self.xdotool("getwindowgeometry", "--shell", str(wid), check=False)
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        try:
            return Geometry(wid, int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"]))
        except (KeyError, ValueError):
            return None

    def named_windows(self, *, visible: bool) -> list[Geometry]:
        args = ["search", *(["--onlyvisible"] if visible else []), "--name", TITLE_RE]
        out = self.xdotool(*args, check=False)
        found = [self.geometry(int(w)) for w in out.split()]
        return [g for g in found if g is not None]

    def app_windows(self, *, visible: bool = True) -> list[Geometry]:
        return [g for g in self.named_windows(visible=visible) if g.width >= MIN_WINDOW_WIDTH]

    def window_visible(self) -> bool:
        return bool(self.app_windows(visible=True))

    def tray_icons(self) -> list[Geometry]:
        """The icons embedded in trayer's panel (found by position in the tree, not by name: the
        plug's name is the program name, which differs between source and frozen runs).

        Windows come and go while this walks the tree (an icon being embedded or removed, a menu
        popping up), so every query of a window may find it gone; such a window is skipped."""
        from Xlib import X

        dpy = self._xlib()
        found: list[Geometry] = []
        try:
            root = dpy.screen().root
            panels = [w for w in _children(root) if _x(w.get_wm_name) == "panel"
                      and (_x(w.get_wm_class) or ("", ""))[1] == "trayer"]
            for panel in panels:
                stack = _children(panel)
                while stack:
                    win = stack.pop(0)
                    geo, attrs = _x(win.get_geometry), _x(win.get_attributes)
                    if geo is None or attrs is None:
                        continue
                    if attrs.map_state == X.IsViewable and geo.width >= 16 and geo.height >= 16:
                        pos = _x(functools.partial(win.translate_coords, root, 0, 0))
                        if pos is not None:
                            found.append(Geometry(win.id, -pos.x, -pos.y, geo.width, geo.height))
                        continue  # an icon: its own children are its drawing, not more icons
                    stack.extend(_children(win))
            return found
        finally:
            dpy.close()

    def tray_icon(self) -> Geometry | None:
        """The first tray icon, if any."""
        icons = self.tray_icons()
        return icons[0] if icons else None

    def tray_icon_image(self) -> Any:
        """The tray icon's pixels as a PIL image (from a screenshot of the whole screen)."""
        from PIL import Image

        icon = wait_for(self.tray_icon, 10, "the tray icon")
        shot = Path(tempfile.mkdtemp(prefix="tray-shot-")) / "root.png"
        try:
            self.screenshot(shot)
            with Image.open(shot) as img:
                return img.convert("RGB").crop((icon.x, icon.y, icon.x + icon.width, icon.y + icon.height))
        finally:
            shutil.rmtree(shot.parent, ignore_errors=True)

    # --- user actions ----------------------------------------------------------------------------

    def click_tray(self, button: int = 1) -> None:
        icon = wait_for(self.tray_icon, 10, "the tray icon")
        # No "mousemove --sync": it waits forever when the pointer is already there.
        self.xdotool("mousemove", str(icon.x + icon.width // 2), str(icon.y + icon.height // 2),
                     "sleep", "0.1", "click", str(button))

    def popup_menus(self) -> list[Geometry]:
        """Mapped override-redirect windows the size of a menu (GTK's menus are such popups)."""
        from Xlib import X

        dpy = self._xlib()
        found = []
        try:
            root = dpy.screen().root
            for win in _children(root):
                attrs, geo = _x(win.get_attributes), _x(win.get_geometry)
                if attrs is None or geo is None:
                    continue
                if attrs.override_redirect and attrs.map_state == X.IsViewable and geo.width >= 80 and geo.height >= 80:
                    found.append(Geometry(win.id, geo.x, geo.y, geo.width, geo.height))
            return found
        finally:
            dpy.close()

    def open_tray_menu(self, attempts: int = 4) -> None:
        """Right-click the icon until its menu is up. The icon is embedded (and found) as soon as
        the app's GTK loop first runs, but a loop still busy loading the page may miss the first
        click, as a user's first click can be missed; they click again, and so does this."""
        for _ in range(attempts):
            self.click_tray(3)
            try:
                wait_for(self.popup_menus, 3, "the tray menu to pop up")
            except AssertionError:
                self.xdotool("key", "Escape")
                continue
            time.sleep(0.2)
            return
        raise AssertionError(f"the tray menu did not open after {attempts} right-clicks")

    def tray_menu(self, position: int) -> None:
        """Right-click the icon and activate the ``position``-th selectable menu entry (1 = first;
        GTK's keyboard navigation skips disabled entries and separators)."""
        self.open_tray_menu()
        self.xdotool("key", "--delay", "80", *(["Down"] * position), "Return")

    def tray_menu_last(self) -> None:
        """Right-click the icon and activate the last entry (Quit): Up from nothing selected wraps to it."""
        self.open_tray_menu()
        self.xdotool("key", "--delay", "80", "Up", "Return")

    def close_window(self, wid: int) -> None:
        """What a window manager does on the title bar's close button."""
        from Xlib import X
        from Xlib.protocol import event

        dpy = self._xlib()
        try:
            window = dpy.create_resource_object("window", wid)
            protocols = dpy.intern_atom("WM_PROTOCOLS")
            message = event.ClientMessage(window=window, client_type=protocols,
                                          data=(32, [dpy.intern_atom("WM_DELETE_WINDOW"), X.CurrentTime, 0, 0, 0]))
            window.send_event(message, event_mask=X.NoEventMask)
            dpy.flush()
        finally:
            dpy.close()

    def close_until(self, wid: int, done: Callable[[], bool], *, timeout: float = 30.0, every: float = 4.0) -> int:
        """Close ``wid`` as a window manager would and wait for ``done``; re-send the request every
        ``every`` seconds, as a user clicks the close button again. Under heavy CPU load on Xvfb a
        close request sometimes never becomes a GTK delete-event (GDK answered _NET_WM_PING for the
        same window meanwhile, so the message arrived); a second request is handled. Returns how
        many requests it took."""
        deadline = time.monotonic() + timeout
        sent = 0
        while True:
            self.close_window(wid)
            sent += 1
            try:
                wait_for(done, min(every, max(0.1, deadline - time.monotonic())), "the window to close")
                return sent
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise AssertionError(f"the window did not close after {sent} close requests in {timeout:.0f}s") from None

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["import", "-window", "root", str(path)], env=self.env, check=True, timeout=20)


def start_session_bus(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """A private D-Bus session bus: (the dbus-daemon, its address)."""
    proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    address = proc.stdout.readline().decode().strip()
    if not address:
        proc.kill()
        raise RuntimeError("dbus-daemon did not start")
    return proc, address


@dataclass
class NotificationService:
    """tests/desktop/notification_service.py running on a session bus: what it received, and clicks."""

    proc: subprocess.Popen[str]
    record: Path
    env: dict[str, str]

    @classmethod
    def start(cls, env: dict[str, str], record: Path, timeout: float = 15.0,
              capabilities: str | None = None) -> NotificationService:
        """``capabilities``: what the service says it can do (comma-separated; None: actions,body)."""
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text("")
        script = Path(__file__).with_name("notification_service.py")
        extra = [capabilities] if capabilities is not None else []
        proc = subprocess.Popen([sys.executable, str(script), str(record), *extra], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        service = cls(proc, record, env)
        assert proc.stdout is not None
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not ready or ready[0].strip() != "ready":
            service.stop()
            raise RuntimeError(f"the test notification service did not start: {proc.stderr.read() if proc.stderr else ''}")
        return service

    def received(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.record.read_text().splitlines() if line.strip()]

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> dict[str, Any]:
        return wait_for(lambda: next((n for n in self.received() if predicate(n)), None), timeout, what)

    def click(self, nid: int, action: str = "default") -> None:
        subprocess.run(["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.Notifications",
                        "/org/freedesktop/Notifications", "org.apirouter.TestNotifications.Click",
                        f"uint32:{nid}", f"string:{action}"], env=self.env, check=True, capture_output=True, timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def require_gui_stack() -> None:
    """Skip when run by hand without the GUI set-up; fail loudly when tasks.py promised it."""
    if os.environ.get("API_ROUTER_TEST_GUI") != "1":
        if not sys.platform.startswith("linux"):
            pytest.skip("the desktop tests run on Linux (Xvfb)")
        # As a missing browser fails the browser tests under tasks.py, which was to install the stack.
        tools.missing("the desktop test stack (Xvfb, GTK, PyGObject) is not set up: API_ROUTER_TEST_GUI is not 1")
    absent = missing_tools()
    absent += [m for m in ("webview", "pystray", "gi", "Xlib") if importlib.util.find_spec(m) is None]
    if absent:
        pytest.fail(f"API_ROUTER_TEST_GUI=1 but the GUI test stack is incomplete: missing {', '.join(absent)}")
