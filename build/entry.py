"""Entry point of the PyInstaller executable (``API Router`` / ``API Router.exe``)."""

import sys

from api_router.launcher import follow_launcher
from api_router.winconsole import attach_parent_console

follow_launcher()  # the launcher killed (kill -9): the app stops too, cleanly
attach_parent_console(sys.argv[1:])

from api_router.entry import run  # noqa: E402 - after the console is attached, so output goes there

raise SystemExit(run())
