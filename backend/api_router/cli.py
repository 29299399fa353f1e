"""``api-router`` command line: pick the mode, run it, exit with a meaningful code."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sys
from collections.abc import Callable

from api_router import __version__
from api_router.codex.setup import auth_json, config_block
from api_router.composition import StartupError, follow_autostart, make_control, make_registry, open_services
from api_router.desktop.instance import (
    NO_WINDOW,
    InstanceInfo,
    InstanceLock,
    claim_or_hand_off,
    new_nonce,
    reported_handoff,
)
from api_router.gateway.server import GatewayServer, PortInUse, StartError, new_event_loop, port_source
from api_router.logfile import setup_logging, start_records_held
from api_router.openfiles import raise_limit
from api_router.paths import Paths, codex_home, resolve_user_data
from api_router.proxyenv import codex_proxy_note
from api_router.services import Services
from api_router.terminal import let_go_of_output, say, stop_signals, stops_as_ctrl_c


def _port(text: str) -> int:
    """A listen port as ``[listen] port`` takes it (argparse turns the refusal into a usage error): ASCII
    digits only (``int`` also reads "٣", "1_000" and " 80")."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: a port is a number from 0 to 65535")
    return port


def _folder(text: str) -> str:
    """A folder named on the command line: an empty one (a variable that expanded to nothing) is refused,
    not taken for the default folder — whose config may serve another port."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty folder name: give the user-data folder, or leave the option out")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="api-router",
        description="Local OpenAI-compatible gateway that routes Codex across several upstream providers.")
    parser.add_argument("--headless", action="store_true",
                        help="run the gateway (and the web UI at its address) without any window or tray")
    parser.add_argument("--user-data", metavar="DIR", type=_folder,
                        help="folder for config.toml, secrets.json and data/ (default: $API_ROUTER_USER_DATA, "
                             "else user-data/ beside the app)")
    parser.add_argument("--host", metavar="H", help="listen address for this run (default: [listen] host)")
    parser.add_argument("--port", metavar="N", type=_port, help="listen port for this run, 0 to 65535 (0: any free "
                                                              "port; default: [listen] port)")
    parser.add_argument("--show", action="store_true", help="desktop: show the window at start this time")
    parser.add_argument("--version", action="version", version=f"api-router {__version__}")
    return parser


def banner(services: Services) -> str:
    token = services.secrets.current.gateway_token
    ui = services.gateway_url.removesuffix("/v1") + "/"
    home = codex_home()  # $CODEX_HOME when set: the files Connect Codex would write
    return "\n".join([
        f"API Router {__version__} is running (headless).",
        f"  Gateway URL:    {services.gateway_url}",
        f"  Web UI:         {ui}",
        f"  Gateway token:  {token}",
        f"  User data:      {services.paths.user_data}",
        "",
        f"One-time Codex setup — add to {home / 'config.toml'}:",
        "",
        config_block(services.gateway_url).rstrip(),
        "",
        f"and put this in {home / 'auth.json'} (UTF-8, no BOM):",
        "",
        auth_json(token).rstrip(),
        "",
        *([note, ""] if (note := codex_proxy_note(os.environ, services.gateway_url)) else []),
        "(Or open the web UI and use Connect Codex.)  Stop with Ctrl-C.",
        "",
    ])


def desktop_banner(rt: Services, *, show_token: bool, tray: bool = True) -> str:
    """What the desktop app prints at start: where Codex connects and where the token is. The token
    itself only on a terminal: a login item's output may end up in a system log. ``tray``: whether a
    system tray shows the icon (without one the window stays open, and closing it quits)."""
    token = rt.secrets.current.gateway_token if show_token else "(not printed here)"
    where = ("its window opens from the tray icon" if tray else
             "no system tray was found: the window stays open, and closing it quits")
    return "\n".join([
        f"API Router {__version__} is running (desktop; {where}).",
        f"  Gateway URL:    {rt.gateway_url}",
        f"  Gateway token:  {token}",
        f"  Token stored in {rt.paths.secrets}",
        "                  (tray menu: Copy gateway token; window: Connect Codex)" if tray else
        "                  (window: Connect Codex)",
        f"  User data:      {rt.paths.user_data}",
        "",
    ])


async def serve_headless(paths: Paths, host: str | None, port: int | None, *,
                         lock: InstanceLock | None = None) -> int:
    # One instance per user-data folder, headless too: two would share one store, config watcher and
    # the checks and usage refreshes of the same providers. ``lock``: already claimed by this process.
    lock = lock or InstanceLock(paths.lock)
    try:
        handoff = await asyncio.to_thread(claim_or_hand_off, lock)
    except OSError as exc:
        say(f"api-router: {StartupError.of(exc, paths)}", error=True)
        return 1
    if handoff is not None:
        return reported_handoff(handoff)
    try:
        info = InstanceInfo(pid=os.getpid(), show_port=NO_WINDOW, nonce=new_nonce())
        try:
            lock.publish(info)
        except OSError as exc:  # a full disk
            say(f"api-router: {StartupError.of(exc, paths)}", error=True)
            return 1
        return await _serve_headless(paths, host, port, lambda serving: lock.publish_port(info, serving),
                                     quitting=lock.mark_quitting, keep=lock.keep)
    finally:
        lock.release()


async def _serve_headless(paths: Paths, host: str | None, port: int | None, listening: Callable[[int], None], *,
                          quitting: Callable[[], None] = lambda: None, keep: Callable[[], None] = lambda: None) -> int:
    try:
        with start_records_held():
            services = open_services(paths, port=port, host=host, watch=[keep])
    except StartupError as exc:
        say(f"api-router: {exc}", error=True)
        return 1
    try:
        listener = setup_logging(services, console=True)
    except StartupError as exc:
        services.close()
        say(f"api-router: {exc}", error=True)
        return 1
    stop_following = follow_autostart(services)
    try:
        gateway = GatewayServer(services, make_registry(services, make_control(services)), host=host, port=port)
        # Handlers go in before the port opens: a signal that arrives as soon as /health answers
        # must still mean a clean shutdown, not the default kill.
        stop = asyncio.Event()
        _on_signals(stop.set)
        try:
            await gateway.start()
        except StartError as exc:
            source = f"; the port was set by {port_source(port, services)}" if isinstance(exc, PortInUse) else ""
            say(f"api-router: {exc}{source}", error=True)
            return exc.exit_code
        listening(services.require_serving().port)
        say(banner(services))
        await stop.wait()
        say("api-router: shutting down…", error=True)
        quitting()
        await gateway.stop()
        return 0
    finally:
        stop_following()
        services.close()
        listener.stop()


def _on_signals(callback: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in stop_signals():
        try:
            loop.add_signal_handler(sig, callback)
        except (NotImplementedError, RuntimeError):  # Windows: no loop signal handlers
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(callback))


def tune_gc() -> None:
    """Garbage-collector settings for a process that serves requests for weeks.

    Each request leaves a few objects alive for a moment (queued store rows, pooled connections),
    so with the default gen0 threshold (700) the collector ran every ~25 requests and took ~15 us
    per request under load, about 6 % of the gateway's CPU. Cycles are still collected, just in
    larger, rarer passes; what is alive after start-up (modules, classes) is frozen out of them.
    """
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


SWITCH_INTERVAL_S = 0.001


def favour_the_event_loop() -> None:
    """How long a thread doing Python work (an export, analytics, the store's writer) keeps the interpreter
    while the event loop waits for it. A request gives the interpreter up and waits for it again at each
    socket operation, so at CPython's 5 ms a CSV export of 200,000 rows made each request wait: p50 2.8 →
    13.9 ms, p99 → 32 ms; at 1 ms, 5.4 and 14.6 ms, with the export no slower."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    finally:
        let_go_of_output()


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    tune_gc()
    favour_the_event_loop()
    raise_limit()
    try:
        paths = Paths(resolve_user_data(args.user_data))
    except FileNotFoundError:  # a relative folder, from a current folder deleted since
        say("api-router: the current folder no longer exists, so the user-data folder cannot be found from it: "
            "start from another folder, or give --user-data as an absolute path", error=True)
        return 1
    except RuntimeError:  # "~" (or "~user") in it, and no such home to be found
        say("api-router: the user-data folder starts with ~, and that home folder cannot be found: give "
            "--user-data (or API_ROUTER_USER_DATA) as an absolute path", error=True)
        return 1
    claimed = _claim_instance(paths)
    if isinstance(claimed, int):
        return claimed
    try:
        return _run_mode(args, paths, claimed)
    finally:
        if claimed is not None:
            claimed.release()


def _claim_instance(paths: Paths) -> InstanceLock | int | None:
    """The user-data folder's instance lock, claimed before any GUI library loads: a start that finds the
    app running only hands off to it (shows its window) and exits — quickly, and without bringing up GTK
    and WebKit it has no use for and tearing them down again. An int: that start's exit code. None: the
    lock file cannot be used; the mode started reports that as it reports any start-up problem."""
    lock = InstanceLock(paths.lock)
    try:
        handoff = claim_or_hand_off(lock)
    except OSError:
        return None
    except KeyboardInterrupt:  # Ctrl-C while waiting for one that is quitting: as any Ctrl-C, a clean stop
        return 0
    if handoff is None:
        return lock
    return reported_handoff(handoff)


def _run_mode(args: argparse.Namespace, paths: Paths, lock: InstanceLock | None) -> int:
    if not args.headless:
        from api_router.desktop.mode import desktop_unavailable_reason

        reason = desktop_unavailable_reason()
        if reason is None:
            from api_router.desktop.shell import DesktopUnavailable, run_desktop

            try:
                return run_desktop(paths, host=args.host, port=args.port, show=args.show, lock=lock)
            except DesktopUnavailable as exc:
                reason = str(exc)
        say(f"api-router: starting headless with the web UI ({reason})", error=True)
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            code = runner.run(serve_headless(paths, args.host, args.port, lock=lock))
    except KeyboardInterrupt:
        code = 0
    stops_as_ctrl_c()  # the loop's handlers ended with it, leaving the defaults, which kill
    return code
