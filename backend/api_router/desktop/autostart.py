"""Start with the system: the OS's own login item for API Router.

- Windows: a value named "API Router" under ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``.
- Linux (and other XDG desktops): ``$XDG_CONFIG_HOME/autostart/api-router.desktop``
  (``~/.config/autostart/`` by default).
- macOS: ``~/Library/LaunchAgents/com.api-router.desktop.plist`` (``RunAtLoad``), read by launchd at
  the next login.

The item runs the frozen executable, or from source the interpreter of this virtual environment
with ``-m api_router`` (``pythonw.exe`` on Windows, so no console opens at login), plus
``--user-data <folder>`` so the login run uses the same data whatever the login environment holds.
No ``--show``: the app starts hidden in the tray, which is the default.

``system_autostart()`` picks the implementation; each takes its OS calls as parameters (the
``winreg`` module, the home folder) so the Windows and macOS ones are tested on any machine.

When the desktop app starts, ``apply_setting`` makes the OS match ``[ui] autostart = true``; while
it runs, ``SettingFollower`` (a config listener) installs or removes the item when the setting
changes, e.g. by a hand edit of config.toml.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from api_router.fsutil import atomic_write
from api_router.paths import home_folder

if TYPE_CHECKING:
    from api_router.config.schema import Config

log = logging.getLogger(__name__)

APP_NAME = "API Router"
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
# Where Task Manager and Settings > Startup apps switch a Run value off, leaving the value itself in place:
# a binary value of the same name whose first byte is odd (03…) when off, even (02…) when on.
STARTUP_APPROVED_KEY = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
DESKTOP_FILE = "api-router.desktop"
LAUNCH_AGENT_LABEL = "com.api-router.desktop"


class Autostart(Protocol):
    def supported(self) -> bool: ...

    def installed(self) -> bool: ...

    def up_to_date(self) -> bool:
        """Installed and running this very command."""
        ...

    def switched_off(self) -> bool:
        """Ours, but switched off in the desktop's own settings (the session does not start it)."""
        ...

    def location(self) -> str: ...

    def enable(self) -> None: ...

    def disable(self) -> None: ...


def launch_command(*, user_data: Path | None = None, frozen: bool | None = None, executable: str | None = None,
                   platform: str = sys.platform) -> list[str]:
    """What the login item runs."""
    frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
    executable = executable or sys.executable
    if frozen:
        cmd = [executable]
    else:
        if platform == "win32":  # the windowless interpreter beside python.exe, when there is one
            exe = Path(executable)
            windowless = exe.with_name("pythonw.exe")
            if exe.name.lower() == "python.exe" and windowless.is_file():
                executable = str(windowless)
        # Not resolved: a venv's python is a symlink, and only the link knows about the venv.
        cmd = [os.path.abspath(executable), "-m", "api_router"]
    if user_data is not None:
        cmd += ["--user-data", str(user_data)]
    return cmd


def autostart_json(autostart: Autostart) -> dict[str, Any]:
    """The ``autostart`` object of ``get_config()``."""
    try:
        installed = autostart.installed()
    except OSError:
        installed = False
    return {"supported": autostart.supported(), "installed": installed, "location": autostart.location()}


# --- Linux / XDG --------------------------------------------------------------------------------------


def desktop_exec_quote(arg: str) -> str:
    """One argument of a desktop entry's ``Exec`` key (Desktop Entry Specification, "The Exec key"):
    quoted when it holds a reserved character, with ``"`` `` ` `` ``$`` ``\\`` escaped inside the
    quotes; ``%`` doubled. The caller escapes the whole value as a string afterwards."""
    arg = arg.replace("%", "%%")
    reserved = set(" \t\n\"'\\><~|&;$*?#()`")
    if not arg or any(c in reserved for c in arg):
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        return f'"{escaped}"'
    return arg


def desktop_string(value: str) -> str:
    """A desktop entry value of type string: backslashes and control characters escaped."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def read_desktop_string(value: str) -> str:
    """A desktop entry value of type string as written back to its text (``desktop_string`` undone)."""
    return re.sub(r"\\([sntr\\])", lambda m: _STRING_ESCAPES[m.group(1)], value)


def parse_exec(value: str) -> list[str]:
    """A desktop entry's ``Exec`` value back to its arguments, as a launcher reads it: the string
    escapes first, then the quoting (inside double quotes a backslash escapes ``"`` `` ` `` ``$``
    ``\\``), then ``%%`` → ``%``."""
    text = read_desktop_string(value)
    args: list[str] = []
    current: str | None = None  # None: between arguments ("" is an empty quoted one)
    quoted, i = False, 0
    while i < len(text):
        c = text[i]
        if quoted and c == "\\" and text[i + 1:i + 2] in ('"', "`", "$", "\\"):
            current, i = (current or "") + text[i + 1], i + 2
            continue
        if c == '"':
            quoted, current = not quoted, current or ""
        elif c == " " and not quoted:
            if current is not None:
                args.append(current)
            current = None
        else:
            current = (current or "") + c
        i += 1
    if current is not None:
        args.append(current)
    return [a.replace("%%", "%") for a in args]


_STRING_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


class _LoginFile:
    """A login item that is one file the OS reads at login."""

    _path: Path
    _command: list[str]

    def _bytes(self) -> bytes:
        raise NotImplementedError

    def _runs(self, data: bytes) -> list[str] | None:
        """The command an item file runs (None: it cannot be read as one)."""
        raise NotImplementedError

    def supported(self) -> bool:
        return True

    def location(self) -> str:
        return str(self._path)

    def _marked_off(self, data: bytes) -> bool:
        """Whether the item file says the session does not start it (the OS's own settings switched it off)."""
        return False

    def _ours(self) -> bytes | None:
        """The item file's bytes when it starts this app's data: one that another API Router wrote (another
        ``--user-data`` folder) is neither shown as on nor removed here. An item this app wrote for an
        executable since moved is still its own."""
        try:
            data = self._path.read_bytes()
        except OSError:
            return None
        runs = self._runs(data)
        return data if runs is None or self._same_data(_user_data_of(runs)) else None

    def _same_data(self, theirs: str | None) -> bool:
        """Whether an item's ``--user-data`` (None: none) is the folder this app runs on."""
        return theirs == _user_data_of(self._command)

    def installed(self) -> bool:
        """Ours, and not switched off in the OS's settings (the session would not start it: it is not on)."""
        data = self._ours()
        return data is not None and not self._marked_off(data)

    def up_to_date(self) -> bool:
        """The item runs this very command; lines the user added to it (a login delay, a comment) are theirs
        and leave it up to date."""
        try:
            data = self._path.read_bytes()
        except OSError:
            return False
        return self._runs(data) == self._command and self._rest_up_to_date(data)

    def _rest_up_to_date(self, data: bytes) -> bool:
        """Whatever else of the item the app owns is as it would write it."""
        return True

    def switched_off(self) -> bool:
        data = self._ours()
        return data is not None and self._marked_off(data)

    def enable(self) -> None:
        # Only written: the OS reads it at the next login (loading it now would start a second instance).
        atomic_write(self._path, self._bytes(), mode=0o644)

    def disable(self) -> None:
        if self.installed():
            self._path.unlink(missing_ok=True)


def _user_data_of(command: Sequence[str]) -> str | None:
    args = list(command)
    return args[args.index("--user-data") + 1] if "--user-data" in args[:-1] else None


def _xdg_home(env: Mapping[str, str], variable: str, home: Path, default: str) -> Path:
    value = env.get(variable) or ""
    # The spec: a relative path is invalid and ignored.
    return Path(value) if value and os.path.isabs(value) else home / default


class XdgAutostart(_LoginFile):
    def __init__(self, command: Sequence[str], *, env: Mapping[str, str] | None = None, home: Path | None = None,
                 icon: str = "", icon_source: Path | None = None) -> None:
        """``icon_source``: a file ``icon`` is a copy of, written with the item (the bundle's own icon lives
        only as long as the run of a frozen build)."""
        env = os.environ if env is None else env
        home = home_folder() if home is None else home
        self._path = _xdg_home(env, "XDG_CONFIG_HOME", home, ".config") / "autostart" / DESKTOP_FILE
        self._command = list(command)
        self._icon = icon
        self._icon_source = icon_source

    def _bytes(self) -> bytes:
        return self.contents().encode("utf-8")

    def _line(self, data: bytes, key: str) -> str | None:
        for line in data.decode("utf-8", "replace").splitlines():
            if line.startswith(f"{key}="):
                return line[len(key) + 1:]
        return None

    def _runs(self, data: bytes) -> list[str] | None:
        line = self._line(data, "Exec")
        return None if line is None else parse_exec(line)

    def _rest_up_to_date(self, data: bytes) -> bool:
        """Its icon is the app's (the copy of it there, for a frozen build), or one that shows: any file the
        user chose, a theme's icon by name, or none — not a file gone (one an older version of the
        executable pointed at inside the folder of its run)."""
        written = self._line(data, "Icon")
        if not written:
            return True
        shown = read_desktop_string(written)
        if shown == self._icon and self._icon_source is None:
            return True
        return "/" not in shown or Path(shown).is_file()

    def enable(self) -> None:
        icon = self._icon
        if self._icon_source is not None:
            try:
                atomic_write(Path(icon), self._icon_source.read_bytes(), mode=0o644)
            except OSError as exc:  # the item works without its icon
                log.warning("login item icon not written to %s: %s", icon, exc.strerror or exc)
                icon = ""
        # Only written: the OS reads it at the next login (loading it now would start a second instance).
        atomic_write(self._path, self.contents(icon).encode("utf-8"), mode=0o644)

    def _marked_off(self, data: bytes) -> bool:
        """The desktop's settings keep the file but mark it: ``Hidden=true`` (the spec's "deleted", as KDE
        and Xfce write it) or GNOME's ``X-GNOME-Autostart-enabled=false``."""
        for line in data.decode("utf-8", "replace").splitlines():
            key, _, value = line.partition("=")
            if (key.strip(), value.strip().lower()) in (("Hidden", "true"), ("X-GNOME-Autostart-enabled", "false")):
                return True
        return False

    def contents(self, icon: str | None = None) -> str:
        """The item as written; ``icon``: its Icon (None: the app's)."""
        icon = self._icon if icon is None else icon
        exec_line = " ".join(desktop_exec_quote(a) for a in self._command)
        lines = ["[Desktop Entry]", "Type=Application", f"Name={APP_NAME}",
                 "Comment=Local gateway for Codex; starts in the tray",
                 f"Exec={desktop_string(exec_line)}", "Terminal=false", "X-GNOME-Autostart-enabled=true"]
        if icon:
            lines.append(f"Icon={desktop_string(icon)}")
        return "\n".join(lines) + "\n"


# --- Windows --------------------------------------------------------------------------------------


class WindowsRunKey:
    def __init__(self, command: Sequence[str], *, winreg: Any = None) -> None:
        if winreg is None:
            import winreg  # type: ignore[no-redef,unused-ignore]
        self._winreg = winreg
        import subprocess  # Windows only; the gateway process never needs it otherwise

        self._value = subprocess.list2cmdline(list(command))
        self._data = _windows_folder(_user_data_of(command))  # what tells our value from another install's

    def supported(self) -> bool:
        return True

    def location(self) -> str:
        return rf"HKEY_CURRENT_USER\{RUN_KEY}\{APP_NAME}"

    def _read(self, path: str) -> Any:
        """Our value under ``path`` (HKEY_CURRENT_USER), None when there is none."""
        w = self._winreg
        try:
            with w.OpenKey(w.HKEY_CURRENT_USER, path, 0, w.KEY_READ) as key:
                return w.QueryValueEx(key, APP_NAME)[0]
        except FileNotFoundError:
            return None

    def _delete(self, path: str) -> None:
        w = self._winreg
        try:
            with w.OpenKey(w.HKEY_CURRENT_USER, path, 0, w.KEY_SET_VALUE) as key:
                w.DeleteValue(key, APP_NAME)
        except FileNotFoundError:
            pass

    def _current(self) -> str | None:
        value = self._read(RUN_KEY)
        return None if value is None else str(value)

    def _ours(self) -> bool:
        """There is a value, and it starts this app's data (as ``_LoginFile._ours``): the same folder as
        Windows names it (any case, either slash), not one whose name merely starts the same."""
        current = self._current()
        return current is not None and _windows_folder(_user_data_of(windows_argv(current))) == self._data

    def _approved_off(self) -> bool:
        value = self._read(STARTUP_APPROVED_KEY)
        return isinstance(value, (bytes, bytearray)) and len(value) > 0 and value[0] & 1 == 1

    def installed(self) -> bool:
        """Ours, and not switched off in Task Manager or Settings (Windows would not start it)."""
        return self._ours() and not self._approved_off()

    def up_to_date(self) -> bool:
        return self._current() == self._value

    def switched_off(self) -> bool:
        return self._ours() and self._approved_off()

    def enable(self) -> None:
        w = self._winreg
        with w.CreateKeyEx(w.HKEY_CURRENT_USER, RUN_KEY, 0, w.KEY_SET_VALUE) as key:
            w.SetValueEx(key, APP_NAME, 0, w.REG_SZ, self._value)
        # Turned on here after being switched off in Task Manager: its mark goes (Windows counts a value
        # without one as on), or the value just written would still not run.
        self._delete(STARTUP_APPROVED_KEY)

    def disable(self) -> None:
        if self._ours():
            self._delete(RUN_KEY)


def _windows_folder(path: str | None) -> str | None:
    import ntpath  # os.path on Windows; here so the checks run on any system

    return None if path is None else ntpath.normcase(ntpath.normpath(path))


def windows_argv(line: str) -> list[str]:
    """A command line split as Windows programs split theirs (CommandLineToArgvW): the inverse of
    ``subprocess.list2cmdline``, for a Run value this or another install wrote, or the user edited."""
    args: list[str] = []
    arg: list[str] = []
    started = quoted = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            n = len(line) - i - len(line[i:].lstrip("\\"))  # the run of backslashes
            i += n
            if i < len(line) and line[i] == '"':  # 2k of them before a quote: k, and the quote counts
                arg.append("\\" * (n // 2))
                if n % 2:
                    arg.append('"')
                    i += 1
            else:
                arg.append("\\" * n)
            started = True
            continue
        if c == '"':
            quoted, started = not quoted, True
        elif c in " \t" and not quoted:
            if started:
                args.append("".join(arg))
                arg, started = [], False
        else:
            arg.append(c)
            started = True
        i += 1
    if started:
        args.append("".join(arg))
    return args


# --- macOS ----------------------------------------------------------------------------------------


class MacLaunchAgent(_LoginFile):
    def __init__(self, command: Sequence[str], *, home: Path | None = None) -> None:
        home = home_folder() if home is None else home
        self._path = home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"
        self._command = list(command)

    def _bytes(self) -> bytes:
        return self.plist()

    def _same_data(self, theirs: str | None) -> bool:
        """macOS formats its volumes case-insensitive (APFS, HFS+): ``/Users/ann/Data`` and ``…/data`` are one
        folder, which an exact comparison took for another install's. The file system decides where both
        exist (a case-sensitive volume keeps them apart); else the case is not counted."""
        mine = _user_data_of(self._command)
        if theirs is None or mine is None or theirs == mine:
            return theirs == mine
        try:
            return os.path.samefile(theirs, mine)
        except OSError:
            return theirs.casefold() == mine.casefold()

    def _runs(self, data: bytes) -> list[str] | None:
        import plistlib

        try:
            args = plistlib.loads(data).get("ProgramArguments")
        except Exception:  # not a plist (or not a dict): not one this app can read
            return None
        return [str(a) for a in args] if isinstance(args, list) else None

    def plist(self) -> bytes:
        import plistlib  # macOS only (it brings the XML parser with it)

        return plistlib.dumps({
            "Label": LAUNCH_AGENT_LABEL,
            "ProgramArguments": self._command,
            "RunAtLoad": True,
            "ProcessType": "Interactive",
            "LimitLoadToSessionType": "Aqua",  # the graphical login session only
        })


class Unsupported:
    def supported(self) -> bool:
        return False

    def installed(self) -> bool:
        return False

    def up_to_date(self) -> bool:
        return False

    def switched_off(self) -> bool:
        return False

    def location(self) -> str:
        return ""

    def enable(self) -> None:
        raise OSError("starting with the system is not supported on this platform")

    def disable(self) -> None:
        pass


def system_autostart(platform: str = sys.platform, *, user_data: Path | None = None,
                     command: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
                     home: Path | None = None, winreg: Any = None, icon: str | None = None,
                     frozen: bool | None = None, bundled_icon: Path | None = None) -> Autostart:
    """The login item for this platform; ``command`` defaults to ``launch_command(user_data=…)``,
    ``icon`` (XDG) to the app's icon file (``bundled_icon``, by default the package's), so every caller
    writes the same item. A frozen build's files live in a folder of its run, gone once it quits: its
    item's icon is a copy kept in the user's data folder."""
    cmd = list(command) if command is not None else launch_command(user_data=user_data, platform=platform)
    if platform == "win32":
        return WindowsRunKey(cmd, winreg=winreg)
    if platform == "darwin":
        return MacLaunchAgent(cmd, home=home)
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return Unsupported()
    source = None
    if icon is None:
        if bundled_icon is None:
            from api_router.desktop.icon import icon_path

            bundled_icon = icon_path()
        frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
        if frozen:
            env_now = os.environ if env is None else env
            data_home = _xdg_home(env_now, "XDG_DATA_HOME", home_folder() if home is None else home, ".local/share")
            icon, source = str(data_home / "api-router" / "icon.png"), bundled_icon
        else:
            icon = str(bundled_icon)
    return XdgAutostart(cmd, env=env, home=home, icon=icon, icon_source=source)


class ItemChange(StrEnum):
    """What making the login item match the setting did (its value is the log's words for it)."""

    UNCHANGED = "unchanged"
    LEFT_OFF = "switched off in the desktop's settings (left so)"
    PRESENT = "present"
    INSTALLED = "installed"
    UPDATED = "updated"
    ABSENT = "absent"
    REMOVED = "removed"
    UNSUPPORTED = "unsupported"

    @property
    def written(self) -> bool:
        """The item was written (new, or made to run this command)."""
        return self in (ItemChange.INSTALLED, ItemChange.UPDATED)


def apply_setting(autostart: Autostart, wanted: bool) -> ItemChange:
    """At desktop start: make the OS match ``[ui] autostart = true``.

    True and missing (or pointing at another command, e.g. the executable moved): (re)install.
    False: leave the OS alone; an item the user made (or left) is theirs, and the UI's toggle is
    what removes ours.
    """
    if not wanted or not autostart.supported():
        return ItemChange.UNCHANGED
    if autostart.switched_off():  # the user's latest word, in the desktop's settings: not undone at each start
        return ItemChange.LEFT_OFF
    if autostart.up_to_date():
        return ItemChange.PRESENT
    was = autostart.installed()
    autostart.enable()
    return ItemChange.UPDATED if was else ItemChange.INSTALLED


def follow_setting(autostart: Autostart, wanted: bool) -> ItemChange:
    """While running, ``[ui] autostart`` changed to ``wanted``: true installs the item (again, when it
    points at another command), false removes it."""
    if not autostart.supported():
        return ItemChange.UNSUPPORTED
    if wanted:
        return apply_setting(autostart, True)
    if not autostart.installed():
        return ItemChange.ABSENT
    autostart.disable()
    return ItemChange.REMOVED


class SettingFollower:
    """A config listener (``ConfigFile.listeners``): when ``[ui] autostart`` changes while the app
    runs (a hand edit of config.toml picked up by the file watcher), the login item follows it.

    Only a change of the value acts; a config that keeps it (another setting edited) leaves the OS
    alone, so an item left in place at start with ``false`` stays until the setting is changed. An
    edit made in the app reaches this listener too, before ``update_ui`` sets the item itself; both
    steps are idempotent. ``report(done, wanted)`` is told what was done; ``failed(exc, wanted)``
    what the OS refused. Never raises: other listeners come after it.
    """

    def __init__(self, autostart: Autostart, wanted: bool, *, report: Callable[[ItemChange, bool], None],
                 failed: Callable[[Exception, bool], None]) -> None:
        self._autostart = autostart
        self._wanted = wanted
        self._report = report
        self._failed = failed
        self._lock = threading.Lock()  # the watcher's thread and an edit in the app may both call

    def __call__(self, config: Config) -> None:
        wanted = bool(config.ui.autostart)
        with self._lock:
            if wanted == self._wanted:
                return
            self._wanted = wanted
            try:
                done = follow_setting(self._autostart, wanted)
            except Exception as exc:  # OSError from the OS; the setting stays saved either way
                self._call(self._failed, exc, wanted)
                return
            self._call(self._report, done, wanted)

    @staticmethod
    def _call(callback: Callable[[Any, bool], None], arg: Any, wanted: bool) -> None:
        try:
            callback(arg, wanted)
        except Exception:
            log.exception("start with the system: reporting failed")
