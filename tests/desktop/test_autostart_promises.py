"""Login item promises the existing tests leave open (README "Start with the system": the item "starts API
Router with the same user-data folder"): found by mutation testing of desktop/autostart.py."""

from __future__ import annotations

import re
from pathlib import Path

from api_router.desktop.autostart import system_autostart


def test_a_percent_sign_in_the_user_data_path_is_escaped_for_the_desktop_launcher(tmp_path: Path) -> None:
    """The Desktop Entry spec reads "%" + a letter in Exec as a field code (%f, %u, %d, ...), which a launcher
    expands or drops: a literal "%" must be written "%%", or the login run gets another folder."""
    ud = tmp_path / "100%d data"
    item = system_autostart("linux", command=["/opt/api-router", "--user-data", str(ud)], env={}, home=tmp_path)
    item.enable()
    line = next(ln for ln in Path(item.location()).read_text().splitlines() if ln.startswith("Exec="))
    assert "100%%d data" in line
    assert not re.search(r"(?<!%)%(?!%)", line.replace("%%", "")), line  # no lone field code left


def test_the_login_item_opens_no_terminal(tmp_path: Path) -> None:
    """Started at login "hidden in the tray": the desktop file must not ask for a terminal window."""
    item = system_autostart("linux", command=["/opt/api-router", "--user-data", "/d/ud"], env={}, home=tmp_path)
    item.enable()
    lines = Path(item.location()).read_text().splitlines()
    assert "Terminal=false" in lines and "Terminal=true" not in lines


def test_from_source_on_windows_without_pythonw_the_item_runs_python_exe(tmp_path: Path) -> None:
    """pythonw.exe is taken only when it is there: a login item naming a missing interpreter starts nothing."""
    from api_router.desktop.autostart import launch_command

    scripts = tmp_path / "Scripts"
    scripts.mkdir()
    (scripts / "python.exe").touch()
    cmd = launch_command(frozen=False, executable=str(scripts / "python.exe"), platform="win32")
    assert cmd[0] == str(scripts / "python.exe")
