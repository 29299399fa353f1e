"""Start with the system: the XDG autostart file for real (in a temporary home), the Windows Run
value and the macOS LaunchAgent with the OS calls replaced at their seams."""

from __future__ import annotations

import plistlib
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from api_router.config.schema import Config, UiConfig
from api_router.desktop.autostart import (
    APP_NAME,
    RUN_KEY,
    MacLaunchAgent,
    SettingFollower,
    Unsupported,
    WindowsRunKey,
    XdgAutostart,
    apply_setting,
    autostart_json,
    desktop_exec_quote,
    follow_setting,
    launch_command,
    parse_exec,
    system_autostart,
    windows_argv,
)


def test_launch_command_source_and_frozen(tmp_path: Path) -> None:
    ud = tmp_path / "user data"
    assert launch_command(user_data=ud, frozen=True, executable="/opt/API Router") == [
        "/opt/API Router", "--user-data", str(ud)]
    assert launch_command(user_data=ud, frozen=False, executable="/v/.venv/bin/python", platform="linux") == [
        "/v/.venv/bin/python", "-m", "api_router", "--user-data", str(ud)]
    # Windows from source: pythonw.exe beside python.exe, so no console window opens at login
    scripts = tmp_path / "Scripts"
    scripts.mkdir()
    (scripts / "python.exe").touch()
    (scripts / "pythonw.exe").touch()
    cmd = launch_command(frozen=False, executable=str(scripts / "python.exe"), platform="win32")
    assert cmd == [str(scripts / "pythonw.exe"), "-m", "api_router"]
    assert "--show" not in cmd


@pytest.mark.parametrize("arg", ["/home/u/API Router/api-router", "/tmp/100%/x", 'we"ird$`\\path', "plain", "a'b"])
def test_exec_quoting_round_trips(arg: str, tmp_path: Path) -> None:
    item = XdgAutostart([arg, "--user-data", arg], env={}, home=tmp_path)
    line = next(ln for ln in item.contents().splitlines() if ln.startswith("Exec="))
    assert parse_exec(line[len("Exec="):]) == [arg, "--user-data", arg]
    assert desktop_exec_quote("plain") == "plain"


def test_xdg_writes_and_removes_the_desktop_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    item = system_autostart("linux", command=["/v/bin/python", "-m", "api_router", "--user-data", "/d/ud"],
                            env={}, home=home, icon="/pkg/icon.png")
    path = home / ".config" / "autostart" / "api-router.desktop"
    assert item.location() == str(path) and item.supported() and not item.installed()
    assert autostart_json(item) == {"supported": True, "installed": False, "location": str(path)}
    item.enable()
    text = path.read_text()
    assert text.startswith("[Desktop Entry]\nType=Application\nName=API Router\n")
    assert "Exec=/v/bin/python -m api_router --user-data /d/ud\n" in text and "Icon=/pkg/icon.png" in text
    assert item.installed() and item.up_to_date() and autostart_json(item)["installed"] is True
    item.disable()
    assert not path.exists() and not item.installed()
    item.disable()  # already gone: fine


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_an_item_another_api_router_wrote_is_neither_shown_as_on_nor_removed(tmp_path: Path, platform: str) -> None:
    """One login item name, two installs with their own data: each sees only the item that starts its
    own ``--user-data`` folder as on, and turning it off removes only that one."""
    ours = ["/home/u/API Router/api-router", "--user-data", "/home/u/my data/$HOME%"]
    other = system_autostart(platform, command=["/opt/api-router", "--user-data", "/srv/other"], env={}, home=tmp_path)
    item = system_autostart(platform, command=ours, env={}, home=tmp_path)
    other.enable()
    assert other.installed() and not item.installed() and not autostart_json(item)["installed"]
    assert follow_setting(item, False) == "absent"
    item.disable()
    assert other.installed() and Path(item.location()).exists()
    item.enable()  # turning it on here takes the one item name over
    assert item.installed() and not other.installed()
    moved = system_autostart(platform, command=["/moved/api-router", *ours[1:]], env={}, home=tmp_path)
    assert moved.installed()  # ours, for an executable since moved: still ours to show and to remove
    moved.disable()
    assert not Path(item.location()).exists()


def test_xdg_config_home_is_honoured(tmp_path: Path) -> None:
    item = system_autostart("linux", command=["x"], env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")}, home=tmp_path)
    assert item.location() == str(tmp_path / "cfg" / "autostart" / "api-router.desktop")
    relative = system_autostart("linux", command=["x"], env={"XDG_CONFIG_HOME": "cfg"}, home=tmp_path)
    assert relative.location() == str(tmp_path / ".config" / "autostart" / "api-router.desktop")


def test_the_desktop_file_runs_api_router(tmp_path: Path) -> None:
    """The Exec line, run as a launcher would, starts this very program (``--version`` here)."""
    item = system_autostart("linux", user_data=tmp_path / "my data", env={}, home=tmp_path)
    item.enable()
    text = Path(item.location()).read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("Exec="))
    icon = next(ln for ln in text.splitlines() if ln.startswith("Icon="))[len("Icon="):]
    assert icon.endswith("icon.png") and Path(icon).is_file()  # the app's icon, whoever installs it
    argv = parse_exec(line[len("Exec="):])
    assert argv[-2:] == ["--user-data", str(tmp_path / "my data")]
    result = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("api-router "), result.stderr
    # A reading that does not come from the app: without "%" the Exec quoting is the shell's double quoting.
    shell = subprocess.run(["sh", "-c", line[len("Exec="):].replace("\\\\", "\\") + " --version"],
                           capture_output=True, text=True, timeout=60)
    assert shell.stdout == result.stdout, shell.stderr


class FakeWinreg:
    """The winreg calls WindowsRunKey makes, over a dict of {key path: {value name: value}}."""

    HKEY_CURRENT_USER = "HKCU"
    KEY_READ, KEY_SET_VALUE, REG_SZ = 0x20019, 0x0002, 1

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[Any, ...]] = []

    class _Key:
        def __init__(self, path: str) -> None:
            self.path = path

        def __enter__(self) -> FakeWinreg._Key:
            return self

        def __exit__(self, *exc: Any) -> None:
            pass

    def OpenKey(self, root: str, path: str, reserved: int, access: int) -> _Key:
        self.calls.append(("OpenKey", root, path, access))
        if f"{root}\\{path}" not in self.keys:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return self._Key(f"{root}\\{path}")

    def CreateKeyEx(self, root: str, path: str, reserved: int, access: int) -> _Key:
        self.calls.append(("CreateKeyEx", root, path, access))
        self.keys.setdefault(f"{root}\\{path}", {})
        return self._Key(f"{root}\\{path}")

    def QueryValueEx(self, key: _Key, name: str) -> tuple[Any, int]:
        try:
            return self.keys[key.path][name], self.REG_SZ
        except KeyError:
            raise FileNotFoundError(2, "The system cannot find the file specified") from None

    def SetValueEx(self, key: _Key, name: str, reserved: int, kind: int, value: Any) -> None:
        assert kind == self.REG_SZ
        self.keys[key.path][name] = value

    def DeleteValue(self, key: _Key, name: str) -> None:
        try:
            del self.keys[key.path][name]
        except KeyError:
            raise FileNotFoundError(2, "The system cannot find the file specified") from None


def test_windows_run_value() -> None:
    reg = FakeWinreg()
    exe = r"C:\Users\Ann Lee\Apps\API Router.exe"
    item = system_autostart("win32", command=[exe, "--user-data", r"C:\Users\Ann Lee\Apps\user-data"], winreg=reg)
    assert isinstance(item, WindowsRunKey)
    assert item.location() == r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run\API Router"
    assert not item.installed()
    item.enable()
    value = reg.keys["HKCU\\" + RUN_KEY][APP_NAME]
    assert value == r'"C:\Users\Ann Lee\Apps\API Router.exe" --user-data "C:\Users\Ann Lee\Apps\user-data"'
    assert item.installed() and item.up_to_date()
    assert ("CreateKeyEx", "HKCU", RUN_KEY, reg.KEY_SET_VALUE) in reg.calls
    reg.keys["HKCU\\" + RUN_KEY]["Other app"] = "other.exe"
    item.disable()
    assert reg.keys["HKCU\\" + RUN_KEY] == {"Other app": "other.exe"}  # only ours goes
    assert not item.installed()
    item.disable()


def test_a_run_value_switched_off_in_task_manager_shows_as_off_and_is_left_so_until_turned_on_here() -> None:
    """Task Manager and Settings > Startup apps switch a Run value off by a mark under StartupApproved\\Run
    (first byte odd), leaving the value: the tray showed a tick while Windows never started the app, and
    turning it off and on again here left the mark (and the app not started)."""
    from api_router.desktop.autostart import STARTUP_APPROVED_KEY, apply_setting

    reg = FakeWinreg()
    item = system_autostart("win32", command=[r"C:\Apps\API Router.exe", "--user-data", r"C:\my data"], winreg=reg)
    item.enable()
    approved = reg.keys.setdefault("HKCU\\" + STARTUP_APPROVED_KEY, {})
    approved[APP_NAME] = bytes.fromhex("02000000000000000000000000")  # on, as Windows writes it
    assert item.installed() and not item.switched_off()
    approved[APP_NAME] = bytes.fromhex("03000000d40d438dc83bd901")  # switched off in Task Manager
    assert not item.installed() and item.switched_off()
    assert apply_setting(item, True).startswith("switched off")  # a start with autostart = true leaves it so
    assert approved[APP_NAME][0] == 3
    item.enable()  # turned on here: the mark goes, so Windows runs the value again
    assert APP_NAME not in approved and item.installed() and not item.switched_off()
    other = system_autostart("win32", command=[r"C:\Apps\API Router.exe", "--user-data", r"D:\theirs"], winreg=reg)
    approved[APP_NAME] = bytes.fromhex("03000000d40d438dc83bd901")
    assert not other.switched_off()  # the value starts another folder: not this install's to speak of


def test_a_run_value_another_api_router_wrote_is_neither_shown_as_on_nor_removed() -> None:
    reg = FakeWinreg()
    other = system_autostart("win32", command=[r"C:\Other\API Router.exe", "--user-data", r"D:\ud"], winreg=reg)
    item = system_autostart("win32", command=[r"C:\Apps\API Router.exe", "--user-data", r"C:\my data"], winreg=reg)
    other.enable()
    assert other.installed() and not item.installed()
    item.disable()
    assert other.installed()
    item.enable()
    assert item.installed() and not other.installed()
    moved = system_autostart("win32", command=[r"E:\API Router.exe", "--user-data", r"C:\my data"], winreg=reg)
    assert moved.installed()
    moved.disable()
    assert not item.installed() and reg.keys["HKCU\\" + RUN_KEY] == {}


@pytest.mark.parametrize(("mine", "theirs"), [
    (r"C:\data", r"C:\data2"),            # theirs starts with mine
    (r"C:\data", r"C:\data --port 4001"),  # a folder whose name goes on past a space (quoted in the value)
    (r"C:\my data", r"C:\my data\sub"),
])
def test_a_run_value_for_a_folder_whose_name_starts_like_ours_is_not_ours(mine: str, theirs: str) -> None:
    reg = FakeWinreg()
    other = system_autostart("win32", command=[r"C:\Apps\API Router.exe", "--user-data", theirs], winreg=reg)
    item = system_autostart("win32", command=[r"C:\Apps\API Router.exe", "--user-data", mine], winreg=reg)
    other.enable()
    assert not item.installed()
    item.disable()
    assert other.installed() and other.up_to_date()


def test_a_run_value_names_our_folder_as_windows_does_whatever_the_case_or_quoting() -> None:
    reg = FakeWinreg()
    item = system_autostart("win32", command=[r"C:\Apps\API Router.exe", "--user-data", r"C:\My Data"], winreg=reg)
    reg.keys.setdefault("HKCU\\" + RUN_KEY, {})[APP_NAME] = r'"C:\Apps\API Router.exe" --user-data "c:/my data"'
    assert item.installed() and not item.up_to_date()  # the same folder: on, and rewritten as ours at start
    item.disable()
    assert reg.keys["HKCU\\" + RUN_KEY] == {}


def test_a_run_value_is_split_as_windows_splits_it() -> None:
    """The inverse of list2cmdline (which writes our value), backslashes before quotes included."""
    rng = random.Random(17)
    cases = [[r"C:\Users\Ann Lee\API Router.exe", "--user-data", r"C:\my data\\"], ["a\\", 'b"c', 'd\\"e', "", "x y"]]
    cases += [["".join(rng.choice('ab \\"\t') for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(1, 4))]
              for _ in range(500)]
    for args in cases:
        assert windows_argv(subprocess.list2cmdline(args)) == args
    assert windows_argv('  "C:\\A B\\x.exe"\t--user-data  D:\\ud  ') == [r"C:\A B\x.exe", "--user-data", r"D:\ud"]


def test_macos_launch_agent(tmp_path: Path) -> None:
    app = "/Applications/API Router.app/Contents/MacOS/API Router"
    item = system_autostart("darwin", command=[app], home=tmp_path)
    assert isinstance(item, MacLaunchAgent)
    path = tmp_path / "Library" / "LaunchAgents" / "com.api-router.desktop.plist"
    assert item.location() == str(path) and not item.installed()
    item.enable()
    plist = plistlib.loads(path.read_bytes())
    assert plist == {"Label": "com.api-router.desktop", "ProgramArguments": [app], "RunAtLoad": True,
                     "ProcessType": "Interactive", "LimitLoadToSessionType": "Aqua"}
    assert item.installed() and item.up_to_date()
    item.disable()
    assert not path.exists()


def test_a_macos_launch_agent_for_the_same_folder_spelt_in_another_case_is_this_installs(tmp_path: Path) -> None:
    """macOS volumes are case-insensitive by default: ``--user-data /Users/ann/Data`` written by one start is
    the folder a start with ``…/data`` runs on — shown as on, and removable from here."""
    app = "/Applications/API Router.app/Contents/MacOS/API Router"
    earlier = system_autostart("darwin", command=[app, "--user-data", "/Users/ann/Data"], home=tmp_path)
    earlier.enable()
    now = system_autostart("darwin", command=[app, "--user-data", "/Users/ann/data"], home=tmp_path)
    assert now.installed()
    other = system_autostart("darwin", command=[app, "--user-data", "/Users/ann/Data2"], home=tmp_path)
    assert not other.installed()
    now.disable()
    assert not Path(now.location()).exists()
    # Where both folders exist, the file system says: on a case-sensitive one they are two.
    (tmp_path / "Mine").mkdir()
    (tmp_path / "mine").mkdir()
    upper = system_autostart("darwin", command=[app, "--user-data", str(tmp_path / "Mine")], home=tmp_path)
    upper.enable()
    lower = system_autostart("darwin", command=[app, "--user-data", str(tmp_path / "mine")], home=tmp_path)
    assert not lower.installed() and upper.installed()


def test_other_platforms_are_unsupported() -> None:
    item = system_autostart("sunos5", command=["x"])
    assert isinstance(item, Unsupported) and not item.supported()
    assert autostart_json(item) == {"supported": False, "installed": False, "location": ""}
    with pytest.raises(OSError):
        item.enable()


def test_apply_setting_at_start(tmp_path: Path) -> None:
    item = system_autostart("linux", command=["/new/api-router"], env={}, home=tmp_path)
    assert apply_setting(item, False) == "unchanged" and not item.installed()
    assert apply_setting(item, True) == "installed" and item.up_to_date()
    assert apply_setting(item, True) == "present"
    moved = system_autostart("linux", command=["/moved/api-router"], env={}, home=tmp_path)
    assert apply_setting(moved, True) == "updated" and "/moved/api-router" in Path(moved.location()).read_text()
    # false: an item that exists stays (the user's OS state; the UI toggle removes ours)
    assert apply_setting(moved, False) == "unchanged" and moved.installed()


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_an_item_running_this_command_is_left_as_the_user_keeps_it(tmp_path: Path, platform: str) -> None:
    """"Missing or pointing elsewhere" is what reinstalls at start: a line the user added (a login delay, a
    comment) in an item that runs this very command stays."""
    item = system_autostart(platform, command=["/opt/api-router", "--user-data", "/d/ud"], env={}, home=tmp_path,
                            icon="/pkg/icon.png")
    assert apply_setting(item, True) == "installed"
    path = Path(item.location())
    if platform == "linux":
        edited = path.read_text() + "X-GNOME-Autostart-Delay=10\n# mine\n"
        path.write_text(edited)
    else:
        import plistlib

        plist = plistlib.loads(path.read_bytes())
        edited = plistlib.dumps({**plist, "ThrottleInterval": 30}).decode()
        path.write_text(edited)
    assert item.up_to_date() and apply_setting(item, True) == "present"
    assert path.read_text() == edited


def test_an_icon_the_user_chose_stays_and_one_that_is_gone_is_written_again(tmp_path: Path) -> None:
    item = system_autostart("linux", command=["/opt/api-router"], env={}, home=tmp_path, icon="/pkg/icon.png")
    item.enable()
    path = Path(item.location())
    mine = tmp_path / "my icons" / "router.svg"
    mine.parent.mkdir()
    mine.write_text("<svg/>")
    for chosen in (str(mine), "network-server"):  # a file of theirs, a theme's icon by name
        path.write_text(path.read_text().replace("Icon=/pkg/icon.png", f"Icon={chosen}") + "X-Delay=3\n")
        assert item.up_to_date() and apply_setting(item, True) == "present", chosen
        path.write_text(path.read_text().replace(f"Icon={chosen}", "Icon=/pkg/icon.png"))
    path.write_text(path.read_text().replace("Icon=/pkg/icon.png", "Icon=/tmp/_MEI123/icon.png"))
    assert not item.up_to_date()  # an older executable's icon, gone with its run


def test_an_icon_that_cannot_be_copied_leaves_the_item_without_one(tmp_path: Path) -> None:
    """Written at every start otherwise (the copy never there): the item works without its icon."""
    (tmp_path / "share").write_text("a file where the data folder should be")
    bundle = tmp_path / "icon.png"
    bundle.write_bytes(b"\x89PNG")
    item = system_autostart("linux", command=["/opt/API Router"], env={"XDG_DATA_HOME": str(tmp_path / "share")},
                            home=tmp_path, frozen=True, bundled_icon=bundle)
    assert apply_setting(item, True) == "installed"
    assert "Icon=" not in Path(item.location()).read_text()
    assert apply_setting(item, True) == "present"


def test_a_frozen_build_points_the_item_at_an_icon_that_outlives_it(tmp_path: Path) -> None:
    """The root executable unpacks its files into a folder of its own run, gone once it quits: the item's
    icon is a copy in the user's data folder ($XDG_DATA_HOME), written with the item."""
    bundle = tmp_path / "_MEI12345" / "icon.png"
    bundle.parent.mkdir()
    bundle.write_bytes(b"\x89PNG icon")
    env = {"XDG_DATA_HOME": str(tmp_path / "share")}
    item = system_autostart("linux", command=["/opt/API Router"], env=env, home=tmp_path, frozen=True,
                            bundled_icon=bundle)
    item.enable()
    icon = Path(next(ln for ln in Path(item.location()).read_text().splitlines()
                     if ln.startswith("Icon="))[len("Icon="):])
    assert icon == tmp_path / "share" / "api-router" / "icon.png"
    bundle.unlink()  # the run that wrote it has quit
    assert icon.read_bytes() == b"\x89PNG icon" and item.up_to_date()
    again = system_autostart("linux", command=["/opt/API Router"], env=env, home=tmp_path, frozen=True,
                             bundled_icon=tmp_path / "_MEI67890" / "icon.png")  # the next run: another folder
    assert apply_setting(again, True) == "present"


@pytest.mark.parametrize("mark", ["Hidden=true", "X-GNOME-Autostart-enabled=false"])
def test_an_item_switched_off_in_the_desktops_settings_is_off_and_stays_so(tmp_path: Path, mark: str) -> None:
    """GNOME's Startup Applications (or KDE's, Xfce's) keep the file and mark it: the session will not
    start it, so it is not shown as on; a start with [ui] autostart = true does not undo the user's choice;
    turning it on in the app (enable) does."""
    item = system_autostart("linux", command=["/opt/api-router"], env={}, home=tmp_path)
    item.enable()
    path = Path(item.location())
    text = path.read_text().replace("X-GNOME-Autostart-enabled=true\n", "")
    path.write_text(text + mark + "\n")
    assert item.switched_off() and not item.installed()
    assert apply_setting(item, True).startswith("switched off") and mark in path.read_text()
    other = system_autostart("linux", command=["/opt/api-router", "--user-data", "/elsewhere"], env={}, home=tmp_path)
    assert not other.switched_off()  # another install's item: not its to judge
    item.enable()
    assert item.installed() and not item.switched_off() and mark not in path.read_text()


def config(autostart: bool, **ui: Any) -> Config:
    return Config(ui=UiConfig(autostart=autostart, **ui))


def test_a_change_of_the_setting_while_running_installs_and_removes(tmp_path: Path) -> None:
    """``[ui] autostart`` edited in config.toml while the app runs: true installs, false removes;
    only a change of the value acts."""
    item = system_autostart("linux", command=["api-router"], env={}, home=tmp_path, icon="")
    item.enable()  # left in place at start with autostart = false (apply_setting leaves the OS alone)
    done: list[tuple[str, bool]] = []
    follower = SettingFollower(item, False, report=lambda what, on: done.append((what, on)),
                               failed=lambda exc, on: pytest.fail(f"failed: {exc}"))
    follower(config(False, start_hidden=False))  # another setting edited: the item stays
    assert item.installed() and done == []
    follower(config(True))
    assert item.installed() and done == [("present", True)]
    follower(config(False))
    assert not item.installed() and done[-1] == ("removed", False)
    follower(config(True))
    assert item.up_to_date() and done[-1] == ("installed", True)
    Path(item.location()).unlink()  # removed behind our back: the same value again does nothing
    follower(config(True, notify_quota=False))
    assert not item.installed() and len(done) == 3


class RefusingItem(Unsupported):
    def supported(self) -> bool:
        return True

    def enable(self) -> None:
        raise PermissionError(13, "Permission denied")


def test_the_follower_reports_what_the_os_refuses_and_never_raises() -> None:
    failures: list[tuple[str, bool]] = []
    follower = SettingFollower(RefusingItem(), False, report=lambda what, on: None,
                               failed=lambda exc, on: failures.append((type(exc).__name__, on)))
    follower(config(True))
    assert failures == [("PermissionError", True)]

    def broken_report(what: str, on: bool) -> None:
        raise RuntimeError("boom")

    SettingFollower(Unsupported(), True, report=broken_report, failed=broken_report)(config(False))  # no raise


def test_follow_setting() -> None:
    assert follow_setting(Unsupported(), True) == "unsupported"
    assert follow_setting(Unsupported(), False) == "unsupported"
