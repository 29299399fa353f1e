"""``api-router`` as a real process: start-up banner, clean shutdown, port in use, bad binds."""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.support import fake_provider as fp
from tests.support.harness import simple_body
from tests.support.processes import TOKEN, setup_user_data, spawn, start_and_stop, wait_health


def start_and_quit(user_data: Path, port: int, env: dict | None = None) -> tuple[str, str, int]:
    """The app started on ``port``, quit with Ctrl-C once it answers: (stdout, stderr, exit status)."""
    proc = spawn(user_data, "--port", str(port), env=env)
    try:
        wait_health(port, proc)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    return out, err, proc.returncode


def test_banner_shows_url_token_and_codex_config(tmp_path):
    port = fp.free_port()
    ud = tmp_path / "fresh"
    home = tmp_path / "codex-home"
    out, err, status = start_and_quit(ud, port, env={"CODEX_HOME": str(home)})
    assert status == 0, err
    token = json.loads((ud / "secrets.json").read_text())["gateway_token"]
    assert f"http://127.0.0.1:{port}/v1" in out and token in out
    assert 'model_provider = "api_router"' in out and '"OPENAI_API_KEY"' in out
    # The files named are the ones Codex reads: $CODEX_HOME's, not ~/.codex's.
    assert f"add to {home / 'config.toml'}:" in out and f"put this in {home / 'auth.json'} " in out
    assert "~/.codex" not in out
    assert (ud / "config.toml").is_file() and (ud / "data").is_dir()
    assert "Traceback" not in err


def test_port_in_use_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        proc = spawn(tmp_path / "ud", "--port", str(port))
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 2
        lines = [line for line in err.splitlines() if line.startswith("api-router:")]
        assert lines == [f"api-router: port {port} on 127.0.0.1 is already in use (is API Router already running?); "
                         f"the port was set by the --port {port} option of this start"]
        assert "Traceback" not in err
        configured = tmp_path / "configured"
        configured.mkdir()
        (configured / "config.toml").write_text(f"[listen]\nport = {port}\n")
        proc = spawn(configured)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert f"the port was set by [listen] port = {port} in {configured / 'config.toml'}" in err


@pytest.mark.parametrize("port", ["70000", "65536", "-1", "abc", "\u0663", "1_000", " 80"])
def test_a_port_out_of_range_is_refused_not_wrapped(tmp_path, port):
    """70000 would bind 4464 (the OS takes it modulo 65536) and -1 fail deep in the socket layer."""
    proc = spawn(tmp_path / "ud", "--port", port)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and "argument --port" in err and "0 to 65535" in err and "Traceback" not in err


def test_an_empty_user_data_folder_is_refused_not_taken_for_the_default(tmp_path):
    """``--user-data=`` (a variable that expanded to nothing) would run on the default folder and its port."""
    proc = spawn(tmp_path / "ud", "--user-data=")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and "argument --user-data" in err and "Traceback" not in err, err


def test_a_python_with_an_sqlite_older_than_3_25_is_refused_before_the_folder_is_touched(tmp_path, monkeypatch):
    """The Usage page's percentiles need SQLite's window functions: said at start, not as a 500 later."""
    import sqlite3

    from api_router.composition import StartupError, open_services
    from api_router.paths import Paths

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 24, 0))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.24.0")
    with pytest.raises(StartupError, match=r"needs SQLite 3\.25\.0 or later, and this Python has SQLite 3\.24\.0"):
        open_services(Paths(tmp_path / "ud"))
    assert not (tmp_path / "ud").exists()
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 25, 0))
    open_services(Paths(tmp_path / "ud")).close()


def test_the_desktop_banner_says_when_there_is_no_tray(tmp_path):
    from api_router.cli import desktop_banner
    from api_router.composition import open_services
    from api_router.paths import Paths

    services = open_services(Paths(tmp_path / "ud"))
    try:
        with_tray, without = (desktop_banner(services, show_token=False, tray=t) for t in (True, False))
    finally:
        services.close()
    assert "opens from the tray icon" in with_tray and "tray menu: Copy gateway token" in with_tray
    assert "no system tray was found" in without and "tray" not in without.split("found", 1)[1]


def test_tasks_help_is_no_error_and_an_unknown_command_is_named():
    tasks = [sys.executable, str(Path(__file__).resolve().parent.parent / "tasks.py")]
    helped = subprocess.run([*tasks, "--help"], capture_output=True, text=True, timeout=30)
    assert helped.returncode == 0 and "python3 tasks.py" in helped.stdout
    wrong = subprocess.run([*tasks, "bogus"], capture_output=True, text=True, timeout=30)
    assert wrong.returncode == 2 and "unknown command 'bogus'" in wrong.stdout


def test_non_loopback_bind_needs_explicit_config(tmp_path):
    proc = spawn(tmp_path / "ud", "--host", "0.0.0.0", "--port", str(fp.free_port()))
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 1 and "allow_remote = true" in err and "Traceback" not in err


def test_module_entry_point_prints_version():
    out = subprocess.run([sys.executable, "-m", "api_router", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("api-router ")


def test_no_display_says_why_and_runs_headless(tmp_path):
    port = fp.free_port()
    cmd = [sys.executable, "-m", "api_router", "--user-data", str(tmp_path / "ud"), "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_health(port, proc)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "starting headless with the web UI (no display" in err
    assert proc.returncode == 0


async def test_a_wrong_value_in_config_toml_is_an_event_and_status_still_answers(tmp_path):
    """The value is reset to its default and the file copied aside; the event saying so is in /status,
    which must not fail on it (it did: the event's message could not be copied into the document)."""
    ud = setup_user_data(tmp_path, {"p1": "http://127.0.0.1:9/v1"})
    config = ud / "config.toml"
    config.write_text(config.read_text().replace("[routing]\n", '[routing]\nhedge = "yes"\n', 1))
    port = fp.free_port()
    proc = spawn(ud, "--port", str(port))
    try:
        await asyncio.to_thread(wait_health, port, proc)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:
            async with s.get(f"http://127.0.0.1:{port}/status") as resp:
                status, doc = resp.status, await resp.json()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.to_thread(proc.communicate, timeout=15)
    assert status == 200, doc
    assert doc["routing"]["hedge"] is True
    assert any("hedge" in e["message"] and "using true" in e["message"] for e in doc["recent_events"]), \
        [e["message"] for e in doc["recent_events"]]
    assert "Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, *[s for s in [getattr(signal, "SIGHUP", None)] if s]])
async def test_signal_lets_in_flight_stream_finish_then_closes_store(tmp_path, sig):
    """SIGHUP: the terminal the gateway was started from was closed — a clean stop too, not the default kill."""
    fake = await fp.FakeProvider("p1").start()
    fake.always(fp.stream_ok("slow but complete", deltas=8, delay=0.15))
    ud = setup_user_data(tmp_path, {"p1": fake})
    port = fp.free_port()
    proc = spawn(ud, "--port", str(port), in_a_terminal=True)
    try:
        await asyncio.to_thread(wait_health, port, proc)
        async with aiohttp.ClientSession() as s:
            async with s.post(f"http://127.0.0.1:{port}/v1/responses", json={**simple_body(), "stream": True},
                              headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                first = await resp.content.readline()
                proc.send_signal(sig)
                body = first + await resp.content.read()
        rc = await asyncio.to_thread(proc.wait, 20)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        await fake.stop()
    assert rc == 0, err
    assert b"response.completed" in body  # finished within the grace period
    assert "Traceback" not in err
    db = ud / "data" / "api-router.sqlite3"
    assert not Path(str(db) + "-wal").exists() or Path(str(db) + "-wal").stat().st_size == 0
    rows = sqlite3.connect(db).execute("SELECT status FROM request_log").fetchall()
    assert rows == [(200,)]


def _loading_aiohttp(pid: int) -> bool:
    """Whether process ``pid`` has aiohttp's compiled parts mapped (Linux): it is loading the app."""
    try:
        return "aiohttp" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/maps")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_while_the_app_is_still_loading_is_a_clean_stop(tmp_path, sig):
    """The few tenths of a second the app takes to load, before the gateway's own handlers: Ctrl-C there
    printed a KeyboardInterrupt traceback (or a RuntimeError from a class being made) and SIGTERM killed
    the process. The signal goes in as soon as aiohttp is being loaded (well before the app is loaded)."""
    ud = setup_user_data(tmp_path, {})
    proc = spawn(ud, "--port", str(fp.free_port()))
    try:
        deadline = time.monotonic() + 10
        while not _loading_aiohttp(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        proc.send_signal(sig)
        rc = proc.wait(20)
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0, err
    assert "Traceback" not in err and "Error" not in err, err
    assert "API Router" not in out  # it stopped before serving: no banner


def test_a_stop_in_a_step_with_no_handler_of_its_own_ends_the_run_cleanly(monkeypatch):
    """After loading, SIGTERM is Ctrl-C until cli or the desktop shell put their own handlers in; a step
    with none (parsing arguments, loading GTK and WebKit, the end of an exit) that a stop interrupts must
    not end in a KeyboardInterrupt traceback and exit code 130."""
    from api_router import cli, entry
    from api_router.terminal import stop_signals

    def interrupted() -> int:
        signal.raise_signal(signal.SIGTERM)  # as a stop arriving while such a step runs
        return 3

    saved = {sig: signal.getsignal(sig) for sig in stop_signals()}
    monkeypatch.setattr(cli, "main", interrupted)
    try:
        assert entry.run() == 0
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_the_stop_signals_leave_a_hangup_ignored_from_the_start_alone(monkeypatch):
    """SIGHUP (the terminal closed) is a clean stop, unless the app was started ignoring it (nohup): then it
    must keep running when the terminal goes."""
    from api_router.terminal import stop_signals

    if not hasattr(signal, "SIGHUP"):
        pytest.skip("no SIGHUP here")
    saved = signal.getsignal(signal.SIGHUP)
    try:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        assert signal.SIGHUP in stop_signals() and {signal.SIGINT, signal.SIGTERM} <= set(stop_signals())
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        assert signal.SIGHUP not in stop_signals()
    finally:
        signal.signal(signal.SIGHUP, saved)


async def test_stream_longer_than_grace_gets_a_clean_failure_event(tmp_path):
    fake = await fp.FakeProvider("p1").start()
    fake.always(fp.stream_ok("never ends", deltas=4, stall_after=4))
    ud = setup_user_data(tmp_path, {"p1": fake}, stream_idle_timeout_seconds=120)
    port = fp.free_port()
    proc = spawn(ud, "--port", str(port))
    try:
        await asyncio.to_thread(wait_health, port, proc)
        async with aiohttp.ClientSession() as s:
            async with s.post(f"http://127.0.0.1:{port}/v1/responses", json={**simple_body(), "stream": True},
                              headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                await resp.content.readline()
                started = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                body = await resp.content.read()
        rc = await asyncio.to_thread(proc.wait, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
        await fake.stop()
    assert rc == 0
    assert time.monotonic() - started < 12
    assert b"response.failed" in body and b"shutting down" in body


async def test_requests_still_waiting_for_a_provider_at_quit_get_a_clean_error_after_the_grace(tmp_path):
    """A provider that never sends its headers: at SIGTERM the requests waiting on it (a JSON one and a
    stream with nothing sent yet) are answered 503 "shutting down" once the 5 s grace is over, not
    dropped without an answer when the process ends."""
    fake = await fp.FakeProvider("p1").start()
    fake.always(fp.hang())
    ud = setup_user_data(tmp_path, {"p1": fake}, request_timeout_seconds=60, hedge=False)
    port = fp.free_port()
    proc = spawn(ud, "--port", str(port))
    try:
        await asyncio.to_thread(wait_health, port, proc)
        async with aiohttp.ClientSession() as s:
            async def ask(stream: bool) -> tuple[int, dict]:
                async with s.post(f"http://127.0.0.1:{port}/v1/responses", json={**simple_body(), "stream": stream},
                                  headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                    return resp.status, await resp.json()
            asking = [asyncio.ensure_future(ask(False)), asyncio.ensure_future(ask(True))]
            for _ in range(100):  # both are at the provider
                if fake.calls == 2:
                    break
                await asyncio.sleep(0.05)
            assert fake.calls == 2
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            answers = await asyncio.wait_for(asyncio.gather(*asking), 20)
            answered_after = time.monotonic() - started
        rc = await asyncio.to_thread(proc.wait, 30)
        exited_after = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
        await fake.stop()
    for status, body in answers:
        assert status == 503 and "shutting down" in body["error"]["message"], (status, body)
    assert 4.5 <= answered_after < 8, answered_after  # the grace first, then the answer at once
    assert rc == 0 and exited_after < 9, exited_after


async def starts_and_serves(user_data, port: int) -> None:
    proc = spawn(user_data, "--port", str(port))
    try:
        await asyncio.to_thread(wait_health, port, proc)
    finally:
        proc.terminate()
        proc.wait(30)


async def refused_beside(ud: Path, first: subprocess.Popen, first_port: int) -> float:
    """A second headless start on ``ud`` while ``first`` serves there: refused (exit 1) naming the running
    one, which goes on. Returns how long the refusal took."""
    started = time.monotonic()
    second = spawn(ud, "--port", str(fp.free_port()))
    out, err = await asyncio.to_thread(second.communicate, timeout=30)
    assert second.returncode == 1, (out, err)
    assert f"(pid {first.pid}, gateway on port {first_port}) runs headless with this user-data folder" in err
    assert first.poll() is None
    return time.monotonic() - started


@pytest.mark.parametrize("cleared", ["data/instance.lock", "data/"])
async def test_a_start_after_the_lock_file_was_deleted_is_still_refused(tmp_path, cleared):
    """The lock file (or all of data/) deleted while API Router runs: the running instance makes it again
    and locks it within a second, so a later start on the folder is refused as before, naming it."""
    fake = await fp.FakeProvider("p1").start()
    ud = setup_user_data(tmp_path, {"p1": fake})
    first_port = fp.free_port()
    first = spawn(ud, "--port", str(first_port))
    try:
        await asyncio.to_thread(wait_health, first_port, first)
        if cleared == "data/":
            shutil.rmtree(ud / "data")
        else:
            (ud / cleared).unlink()
        deadline = time.monotonic() + 10
        while not (ud / "data" / "instance.lock").exists():
            assert time.monotonic() < deadline, "the lock file was not made again"
            await asyncio.sleep(0.05)
        await refused_beside(ud, first, first_port)
    finally:
        first.terminate()
        await asyncio.to_thread(first.wait, 30)
        await fake.stop()


async def test_a_second_headless_start_on_the_same_user_data_is_refused_at_once(tmp_path):
    """Two gateways on one user-data folder would share its store, config watcher and provider checks:
    the second headless start names the running one (no window to show) and exits 1; once the first
    stops, a start succeeds again. Another folder is another instance."""
    fake = await fp.FakeProvider("p1").start()
    ud = setup_user_data(tmp_path, {"p1": fake})
    first_port, second_port = fp.free_port(), fp.free_port()
    first = spawn(ud, "--port", str(first_port))
    try:
        await asyncio.to_thread(wait_health, first_port, first)
        assert await refused_beside(ud, first, first_port) < 8  # no wait for a window that does not exist
        await starts_and_serves(setup_user_data(tmp_path / "other", {"p1": fake}), second_port)
        first.terminate()
        assert await asyncio.to_thread(first.wait, 30) == 0
        await starts_and_serves(ud, second_port)
    finally:
        if first.poll() is None:
            first.kill()
        await fake.stop()


async def test_a_start_while_a_headless_instance_quits_waits_for_it_and_then_serves(tmp_path):
    """The running one is shutting down (its in-flight request gets the 5 s grace): a start then is no second
    instance to refuse — it waits for the first to exit, as it does for a window, and starts normally."""
    fake = await fp.FakeProvider("p1").start()
    fake.always(fp.hang())
    ud = setup_user_data(tmp_path, {"p1": fake}, request_timeout_seconds=60, hedge=False)
    first_port, second_port = fp.free_port(), fp.free_port()
    first = spawn(ud, "--port", str(first_port))
    second = None
    try:
        await asyncio.to_thread(wait_health, first_port, first)
        async with aiohttp.ClientSession() as s:
            async def ask() -> int:
                async with s.post(f"http://127.0.0.1:{first_port}/v1/responses", json=simple_body(),
                                  headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                    return resp.status
            asking = asyncio.ensure_future(ask())
            for _ in range(100):
                if fake.calls == 1:
                    break
                await asyncio.sleep(0.05)
            first.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)  # it is quitting: the grace runs
            assert first.poll() is None
            second = spawn(ud, "--port", str(second_port))
            await asyncio.to_thread(wait_health, second_port, second, 20)
            assert await asyncio.wait_for(asking, 20) == 503
        assert await asyncio.to_thread(first.wait, 30) == 0
        assert second.poll() is None  # the instance now
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(30)
        await fake.stop()


def test_gui_that_fails_to_load_falls_back_to_headless(tmp_path, monkeypatch, capsys):
    from api_router import cli
    from api_router.desktop import mode, shell

    def broken():
        raise ImportError("libwebkit2gtk-4.1.so.0: cannot open shared object file")

    served = []

    async def headless(paths, host, port, *, lock):
        from api_router.desktop.instance import InstanceLock

        # the lock the start claimed, still held: another claim of the same file fails
        served.append((paths.user_data, lock is not None and not InstanceLock(paths.lock).acquire()))
        return 0

    monkeypatch.setattr(mode, "desktop_unavailable_reason", lambda: None)
    monkeypatch.setattr(shell, "real_backends", broken)
    monkeypatch.setattr(cli, "serve_headless", headless)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert cli.main(["--user-data", str(tmp_path / "ud")]) == 0
        # after the loop: a stop is Ctrl-C (no kill, no ignore a child process would inherit)
        assert {signal.getsignal(sig) for sig in saved} == {signal.default_int_handler}
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert served == [(tmp_path / "ud", True)]
    err = capsys.readouterr().err
    assert "starting headless with the web UI (the GUI libraries failed to load: ImportError" in err


@pytest.mark.parametrize("running", ["window", "headless"])
def test_a_second_start_hands_off_before_any_gui_library_loads(tmp_path, monkeypatch, capsys, running):
    """A start that finds the app running shows its window (or says it runs headless) and exits without
    probing the display or loading GTK/WebKit: quick, and nothing of the GUI to tear down again."""
    from api_router import cli
    from api_router.desktop import instance, mode, shell
    from api_router.paths import Paths

    def must_not_load(*args, **kwargs):
        raise AssertionError("the GUI libraries were loaded by a start that only hands off")

    monkeypatch.setattr(mode, "desktop_unavailable_reason", must_not_load)
    monkeypatch.setattr(shell, "real_backends", must_not_load)
    ud = tmp_path / "ud"
    first = instance.InstanceLock(Paths(ud).lock)
    shown = []
    server = instance.ShowServer("n0nce", lambda: shown.append(True), quitting=lambda: False)
    try:
        assert first.acquire()
        port = server.start() if running == "window" else instance.NO_WINDOW
        first.publish(instance.InstanceInfo(pid=os.getpid(), show_port=port, nonce="n0nce", gateway_port=4321))
        code = cli.main(["--user-data", str(ud)])
    finally:
        server.stop()
        first.release()
    err = capsys.readouterr().err
    if running == "window":
        assert (code, shown) == (0, [True]), err
        assert "already running; showed its window" in err
    else:
        assert code == 1
        assert "runs headless with this user-data folder" in err and "port 4321" in err


def test_client_connections_stay_within_what_the_open_files_limit_leaves_room_for(tmp_path):
    """Linux's usual soft limit of 1024 descriptors is raised to the hard one at start. Where even that is
    low (300 here, which the app cannot raise), connections beyond what it leaves room for (each may hold
    an upstream one) take an idle one's place, as beyond max_connections: a new client is still answered,
    the descriptors never run out, and the log says why the bound is lower."""
    port = fp.free_port()
    ud = tmp_path / "ud"
    out_path = tmp_path / "out.log"
    request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    held: list[socket.socket] = []
    with open(out_path, "w") as out:
        proc = spawn(ud, "--port", str(port), output=out, open_files=(300, 300))
    try:
        wait_health(port, proc)
        for _ in range(290):  # with the app's own descriptors, more than 300 could hold
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            held.append(conn)
            conn.sendall(request)
            assert conn.recv(4096).startswith(b"HTTP/1.1 200"), len(held)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as fresh:
            fresh.sendall(request)
            assert fresh.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for conn in held:
            conn.close()
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
    said = out_path.read_text()
    assert "the open-files limit leaves room for 43 client connections, fewer than [listen] max_connections = 1000" \
        in said, said
    assert "Too many open files" not in said and "Traceback" not in said, said


def test_a_low_soft_open_files_limit_is_raised_to_the_hard_one(tmp_path):
    import resource

    hard = min(4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    port = fp.free_port()
    proc = spawn(tmp_path / "ud", "--port", str(port), open_files=(256, hard))
    try:
        wait_health(port, proc)
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    assert soft == hard and int(soft) > 256, line


def test_a_huge_hard_open_files_limit_is_not_taken_whole(monkeypatch):
    """Containers have hard limits of a billion: children inherit the soft limit, and some close every
    descriptor up to it before they run. The soft limit goes to 65,536 then, not to the hard one."""
    import resource

    from api_router import openfiles

    set_to = []
    monkeypatch.setattr(resource, "getrlimit", lambda which: (1024, 1 << 30))
    monkeypatch.setattr(resource, "setrlimit", lambda which, limits: set_to.append(limits))
    openfiles.raise_limit()
    assert set_to == [(openfiles.ENOUGH, 1 << 30)] and openfiles.ENOUGH == 65536


def test_sigterm_as_soon_as_the_port_opens_is_a_clean_shutdown(tmp_path):
    """The signal handlers are in place before the port opens: no window where SIGTERM kills."""
    for attempt in range(3):
        port = fp.free_port()
        proc = spawn(tmp_path / f"ud{attempt}", "--port", str(port))
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.002)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert "Traceback" not in err


async def test_headless_follows_the_autostart_setting_at_start_and_on_hand_edits(tmp_path):
    """As in the window: [ui] autostart = true at start with the login item missing installs it, and a hand
    edit of the setting while running removes (false) or installs (true) it, with an event each."""
    xdg = tmp_path / "xdg"
    item = xdg / "autostart" / "api-router.desktop"
    ud = setup_user_data(tmp_path, {"p1": "http://127.0.0.1:9/v1"})
    config = ud / "config.toml"
    config.write_text(config.read_text() + "\n[ui]\nautostart = true\n")
    port = fp.free_port()
    proc = spawn(ud, "--port", str(port), env={"XDG_CONFIG_HOME": str(xdg)})

    async def events() -> list[str]:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:
            async with s.get(f"http://127.0.0.1:{port}/status") as resp:
                return [e["message"] for e in (await resp.json())["recent_events"]]

    async def until(what, probe) -> None:
        for _ in range(100):
            if await probe():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(what)

    try:
        await asyncio.to_thread(wait_health, port, proc)
        assert item.is_file() and str(ud) in item.read_text()
        config.write_text(config.read_text().replace("autostart = true", "autostart = false"))
        await until("the item removed", lambda: asyncio.sleep(0, not item.exists()))
        await until("an event says so", lambda: _said(events, "Start with the system is off"))
        config.write_text(config.read_text().replace("autostart = false", "autostart = true"))
        await until("the item back", lambda: asyncio.sleep(0, item.is_file()))
        await until("an event says so", lambda: _said(events, "Start with the system is on"))
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.to_thread(proc.communicate, timeout=15)
    assert "Traceback" not in err


async def _said(events, text: str) -> bool:
    return any(text in m for m in await events())


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("where", ["a full disk", "a pipe nobody reads"])
def test_output_that_cannot_be_written_neither_stops_the_gateway_nor_its_clean_exit(tmp_path, where):
    """stdout on a full disk (or a closed pipe): the banner is lost, the gateway still serves, and a
    SIGTERM still ends it with exit code 0 (not a traceback, not Python's 120 for a failed flush)."""
    ud = setup_user_data(tmp_path, {"p1": "http://127.0.0.1:9/v1"})
    port = fp.free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DISPLAY", None)
    cmd = [sys.executable, "-m", "api_router", "--headless", "--user-data", str(ud), "--port", str(port)]
    if where == "a full disk":
        with open("/dev/full", "w") as full:
            proc = subprocess.Popen(cmd, stdout=full, stderr=full, env=env)
    else:
        read, write = os.pipe()
        os.close(read)  # nobody will read: every write is EPIPE
        proc = subprocess.Popen(cmd, stdout=write, stderr=write, env=env)
        os.close(write)
    try:
        wait_health(port, proc, timeout=20)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            assert sock.recv(64).startswith(b"HTTP/1.1 200")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


CHILD = """
import signal, sys, time
sys.frozen = True
sys._MEIPASS = sys.argv[1]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # as the app's own handler: a clean exit
from api_router.launcher import follow_launcher
follow_launcher()
print("following", flush=True)
time.sleep(60)
"""

LAUNCHER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], stdout=sys.stdout)
print(child.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PyInstaller's one-file launcher: Linux")
def test_the_executable_follows_its_launcher_when_that_is_killed(tmp_path):
    """kill -9 of the pid a user started (PyInstaller's launcher) ends the app too, and the folder the
    launcher unpacked it into goes with it; run from source nothing of this applies."""
    unpacked = tmp_path / "_MEI12345"
    unpacked.mkdir()
    (unpacked / "lib.so").write_bytes(b"x")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, CHILD, str(unpacked)], stdout=subprocess.PIPE,
                                text=True, env=env)
    child = None
    try:
        child = int(launcher.stdout.readline())
        assert launcher.stdout.readline().strip() == "following"
        launcher.kill()
        launcher.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(child):
            assert time.monotonic() < deadline, "the app outlived its launcher"
            time.sleep(0.05)
        assert not unpacked.exists()
    finally:
        if launcher.poll() is None:
            launcher.kill()
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its new parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@contextlib.contextmanager
def older_gateway_on(port: int, version: str = "0.1.0"):
    """Something answering ``/health`` as an API Router does, on ``port`` (in a thread: the start under test
    asks it while the test waits)."""
    import http.server
    import threading

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"ok": True, "version": version}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def test_a_start_that_would_upgrade_the_database_under_a_running_older_gateway_refuses_and_changes_nothing(tmp_path):
    """The first release held no instance lock: still running on this folder while this version starts, its
    database would be upgraded under it (its later rows then fail to insert). An API Router answering on the
    folder's port stops the start before the database is touched — also one started with another --port."""
    from api_router.paths import Paths
    from api_router.store import schema

    old_port, new_port = fp.free_port(), fp.free_port()
    ud = setup_user_data(tmp_path, {})
    (ud / "config.toml").write_text(f"[listen]\nport = {old_port}\n")
    store = Paths(ud).store
    store.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(store)) as older:
        older.executescript(schema.TABLES)
    before = store.read_bytes()
    with older_gateway_on(old_port):
        for args in ((), ("--port", str(new_port))):
            proc = spawn(ud, *args)
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 1, err
            assert f"API Router 0.1.0 answers on port {old_port}: if it is an earlier version still running" in err, err
            assert store.read_bytes() == before
    assert start_and_quit(ud, new_port)[2] == 0  # quit: this version starts, and upgrades it
    with contextlib.closing(sqlite3.connect(store)) as conn:
        assert "request_id" in {row[1] for row in conn.execute("PRAGMA table_info(request_log)")}
    assert start_and_quit(ud, new_port)[2] == 0  # nothing to upgrade now
    # It runs before the port opens (seconds for a large history): the log says what the wait is — once.
    logged = (ud / "data" / "api-router.log").read_text()
    assert logged.count("bringing the database an earlier version left up to date") == 1, logged


def test_an_api_router_on_the_port_is_no_reason_to_refuse_when_nothing_is_upgraded(tmp_path):
    """Another folder's API Router on this folder's port: this start (with its own --port) goes ahead."""
    old_port, new_port = fp.free_port(), fp.free_port()
    ud = setup_user_data(tmp_path, {})
    (ud / "config.toml").write_text(f"[listen]\nport = {old_port}\n")
    with older_gateway_on(old_port):
        _, err, status = start_and_quit(ud, new_port)
    assert status == 0, err


def _full_pipe() -> tuple[int, int]:
    """A pipe nobody reads, filled to the brim (its write end blocking, as a wrapper's would be)."""
    read, write = os.pipe()
    os.set_blocking(write, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write, b"x" * 4096)
    os.set_blocking(write, True)
    return read, write


@pytest.fixture(params=["own door", "polled"])
def pipe_writes(request, monkeypatch) -> str:
    """How lines reach a pipe without waiting: through a descriptor of their own (Linux, by /proc), or —
    where there is no /proc (macOS, the BSDs) — each after a look that the pipe has room for it."""
    from api_router import terminal

    if request.param == "own door" and not sys.platform.startswith("linux"):
        pytest.skip("a pipe's own door through /proc: Linux")
    if request.param == "polled":
        if os.name != "posix":
            pytest.skip("a pipe is polled on POSIX systems only")
        monkeypatch.setattr(terminal, "_OWN_DOOR", "/no-proc-here/fd/{}")
    return request.param


def test_a_line_for_a_pipe_nobody_reads_is_dropped_not_waited_on(pipe_writes):
    """A wrapper that never drains stderr: once the pipe is full, a log line (or the "shutting down" line)
    must not stop its writer — the quit waits for the log's thread, and would wait for ever."""
    import threading

    from api_router.terminal import write_line

    read, write = _full_pipe()
    stream = os.fdopen(write, "w", encoding="utf-8")
    done = threading.Event()
    writer = threading.Thread(target=lambda: (write_line(stream, "api-router: shutting down…"), done.set()),
                              daemon=True)
    try:
        writer.start()
        assert done.wait(5), "the line waited on a pipe nobody reads"
    finally:
        os.close(read)  # a writer still waiting gets EPIPE and ends
        writer.join(5)
        with contextlib.suppress(OSError):
            stream.close()


def _drained(read: int) -> bytes:
    os.set_blocking(read, False)
    got = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(read, 65536):
            got += chunk
    return got


@pytest.mark.skipif(os.name != "posix", reason="a pipe is polled on POSIX systems only")
def test_a_polled_pipe_takes_a_long_line_whole_and_a_line_cut_by_a_full_pipe_runs_into_nothing(monkeypatch):
    """Without /proc (macOS, whose PIPE_BUF is 512), a line goes in pieces of PIPE_BUF, each after a look:
    a long line to a pipe that is read arrives whole (not cut at 512 bytes). One the pipe fills part-way
    through stops there, and the next line that goes in starts on a line of its own."""
    from api_router import terminal

    monkeypatch.setattr(terminal, "_OWN_DOOR", "/no-proc-here/fd/{}")
    read, write = os.pipe()
    stream = os.fdopen(write, "w", encoding="utf-8")
    try:
        terminal.write_line(stream, "L" * 20_000)
        assert _drained(read) == b"L" * 20_000 + b"\n"
        os.set_blocking(write, False)
        with contextlib.suppress(BlockingIOError):
            while True:
                os.write(write, b"x" * 4096)
        os.set_blocking(write, True)
        os.set_blocking(read, True)
        os.read(read, 8192)  # room for two pieces of the next line, not for all of it
        terminal.write_line(stream, "Traceback " + "T" * 20_000)
        terminal.write_line(stream, "dropped: the pipe is full")
        head = _drained(read).lstrip(b"x")
        assert head.startswith(b"Traceback TTT") and b"\n" not in head and len(head) < 20_000, len(head)
        terminal.write_line(stream, "api-router: shutting down")
        terminal.write_line(stream, "api-router: stopped")
        assert _drained(read) == b"\napi-router: shutting down\napi-router: stopped\n"
    finally:
        os.close(read)
        with contextlib.suppress(OSError):
            stream.close()


@pytest.mark.skipif(os.name != "posix", reason="a pipe is polled on POSIX systems only")
def test_a_polled_pipe_shared_by_stdout_and_stderr_never_runs_a_line_on_from_a_cut_one(monkeypatch):
    """`api-router 2>&1 | reader`: stdout and stderr are one pipe. A stdout line the full pipe stopped part-way
    is followed by the next stderr line on a line of its own; a line is never cut inside a character."""
    from api_router import terminal

    monkeypatch.setattr(terminal, "_OWN_DOOR", "/no-proc-here/fd/{}")
    monkeypatch.setattr(terminal, "_PIPE_BUF", 512)  # macOS's
    read, write = os.pipe()
    second = os.dup(write)
    out, err = os.fdopen(write, "w", encoding="utf-8"), os.fdopen(second, "w", encoding="utf-8")
    try:
        os.set_blocking(write, False)
        with contextlib.suppress(BlockingIOError):
            while True:
                os.write(write, b"x" * 4096)
        os.set_blocking(write, True)
        os.read(read, 4096)  # room for a few pieces of the next line, not all of it
        terminal.write_line(out, "a" + "é" * 20_000)  # (pieces of 512 bytes would end inside an "é")
        terminal.write_line(err, "dropped: the pipe is full")
        head = _drained(read).lstrip(b"x")
        assert b"\n" not in head and head.decode("utf-8") == "a" + "é" * (len(head) // 2), len(head)
        terminal.write_line(err, "api-router: shutting down")
        assert _drained(read) == b"\napi-router: shutting down\n"
    finally:
        os.close(read)
        for stream in (out, err):
            with contextlib.suppress(OSError):
                stream.close()


def test_a_line_for_a_pipe_on_windows_is_printed(monkeypatch):
    """Windows: a pipe can be neither polled nor opened anew (its os has no O_NONBLOCK) — the line is printed
    as to any stream, not an AttributeError that ended a piped start."""
    from api_router import terminal

    monkeypatch.setattr(terminal, "_CAN_POLL", False)
    monkeypatch.delattr(terminal.os, "O_NONBLOCK")
    read, write = os.pipe()
    stream = os.fdopen(write, "w", encoding="utf-8")
    try:
        terminal.write_line(stream, "Gateway — ready")
        assert _drained(read) == "Gateway — ready\n".encode()
    finally:
        os.close(read)
        with contextlib.suppress(OSError):
            stream.close()


def test_a_line_in_a_locale_without_its_characters_is_written_with_escapes():
    """LC_ALL=C with PYTHONUTF8=0, or a Latin-1 locale: the banner's "—" must not cost the whole banner."""
    import io

    from api_router.terminal import write_line

    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="latin-1")
    write_line(stream, "Gateway — http://127.0.0.1:4000/v1 · ready")
    assert raw.getvalue() == b"Gateway \\u2014 http://127.0.0.1:4000/v1 \xb7 ready\n"


def test_stopping_the_log_waits_a_bounded_time_and_closes_the_log_file(monkeypatch):
    """A handler whose write never returns holds no quit up; once the thread has ended, the file is closed
    (python -X dev reported the log file unclosed at every quit)."""
    import logging
    import queue
    import threading

    from api_router import logfile

    class Held(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.go, self.closed = threading.Event(), False

        def emit(self, record: logging.LogRecord) -> None:
            self.go.wait(30)

        def close(self) -> None:
            self.closed = True
            super().close()

    monkeypatch.setattr(logfile, "STOP_SECONDS", 0.3)
    held = Held()
    records: queue.Queue[logging.LogRecord] = queue.Queue()
    listener = logfile.LogThread(records, held)
    listener.start()
    records.put(logging.LogRecord("x", logging.WARNING, __file__, 1, "stuck", None, None))
    started = time.monotonic()
    listener.stop()
    assert time.monotonic() - started < 2 and not held.closed  # still writing: left to end with the process
    held.go.set()
    plain = Held()
    plain.go.set()
    listener = logfile.LogThread(queue.Queue(), plain)
    listener.start()
    listener.stop()
    assert plain.closed


def test_started_with_every_standard_descriptor_closed_it_serves_and_quits_cleanly(tmp_path):
    """``api-router --headless <&- >&- 2>&-``: the event loop's own descriptor took number 2, and libuv
    aborts (SIGABRT) on closing one that low — the quit died instead of exiting 0."""
    user_data = setup_user_data(tmp_path, {})
    port = fp.free_port()
    cmd = [sys.executable, "-m", "api_router", "--headless", "--user-data", str(user_data), "--port", str(port)]
    env = {**os.environ}
    env.pop("DISPLAY", None)
    proc = subprocess.Popen(["sh", "-c", 'exec "$@" <&- >&- 2>&-', "sh", *cmd], env=env)
    try:
        wait_health(port, proc, timeout=20)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_a_relative_user_data_folder_from_a_current_folder_deleted_since_is_one_clear_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("DISPLAY", None)
    script = 'mkdir gone && cd gone && rmdir ../gone && exec "$@"'
    done = subprocess.run(["sh", "-c", script, "sh", sys.executable, "-m", "api_router", "--headless",
                           "--user-data", "ud"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "the current folder no longer exists" in done.stderr and "absolute path" in done.stderr


def test_no_home_to_be_found_is_a_folder_that_is_not_there_not_a_traceback(monkeypatch, tmp_path):
    """HOME unset under a user id the system has no entry for (``env -i`` with setpriv): Path.home() raised
    and the start ended in a traceback, CODEX_HOME set or not (the login item asked for it too)."""
    from pathlib import Path

    from api_router import paths
    from api_router.desktop.autostart import XdgAutostart

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    real_expanduser = Path.expanduser

    def expanduser(self: Path) -> Path:
        if str(self).startswith("~"):
            no_home()
        return real_expanduser(self)

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    monkeypatch.setattr(Path, "expanduser", expanduser)
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("CODEX_HOME", raising=False)
    assert paths.codex_home() == Path("/nonexistent/.codex")
    monkeypatch.setenv("CODEX_HOME", "~/codex")
    assert paths.codex_home() == Path("/nonexistent/codex")
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex"))
    assert paths.codex_home() == tmp_path / "codex"
    item = XdgAutostart(["api-router"], env={})
    assert item.location().startswith("/nonexistent/") and not item.installed()


def test_a_user_data_folder_too_deep_for_sqlite_is_refused_naming_the_length(tmp_path):
    """~520 characters is far below PATH_MAX, and config.toml and secrets.json are made there; SQLite opens
    no path over 512 bytes. The refusal said to check permissions, which were fine."""
    deep = tmp_path
    while len(str(deep)) < 500:
        deep = deep / ("d" * 60)
    deep.mkdir(parents=True)
    proc = spawn(deep / "ud", "--port", str(fp.free_port()))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert "bytes long" in err and "shorter path" in err and "writable by you" not in err, err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a pipe's own door through /proc: Linux")
def test_a_line_for_a_pipe_goes_in_whole_or_not_at_all_and_never_runs_into_the_next():
    """A slow reader freed 8 KB; a 20 KB record (a traceback) went in by half, and the next line ran on
    from it. Each line goes in whole or not at all — at most PIPE_BUF bytes, which a pipe takes whole or
    refuses (how full its pages are cannot be told from outside): a longer one is cut, and says so."""
    from api_router.terminal import write_line

    read, write = _full_pipe()
    stream = os.fdopen(write, "w", encoding="utf-8")
    try:
        os.set_blocking(read, False)
        os.read(read, 8192)
        write_line(stream, "Traceback " + "T" * 20_000)
        write_line(stream, "api-router: shutting down…")
        rest = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(read, 65536):
                rest += chunk
        cut, after, end = rest.lstrip(b"x").split(b"\n")
        assert cut.startswith(b"Traceback TTT") and cut.endswith(b"...") and len(cut) < 4096, len(cut)
        assert (after, end) == ("api-router: shutting down…".encode(), b"")
    finally:
        os.close(read)
        with contextlib.suppress(OSError):
            stream.close()


def test_a_log_write_that_never_returns_holds_no_exit_up():
    """The log's thread stuck in a write (a hung mount; a blocking stderr): stopping it returns after its
    bounded wait, and then the process must end too — logging's own clean-up at exit waited for ever on
    the handler's lock the stuck thread holds."""
    child = (
        "import logging, queue, threading, time\n"
        "from api_router import logfile\n"
        "class Held(logging.Handler):\n"
        "    def emit(self, record):\n"
        "        threading.Event().wait()\n"
        "logfile.STOP_SECONDS = 0.3\n"
        "records = queue.Queue()\n"
        "listener = logfile.LogThread(records, Held())\n"
        "listener.start()\n"
        "records.put(logging.LogRecord('x', logging.WARNING, 'x.py', 1, 'stuck', None, None))\n"
        "time.sleep(0.2)\n"
        "listener.stop()\n"
    )
    done = subprocess.run([sys.executable, "-c", child], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_a_user_data_folder_under_a_home_that_cannot_be_found_is_one_clear_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("DISPLAY", None)
    done = subprocess.run([sys.executable, "-m", "api_router", "--headless", "--user-data", "~nosuchuser_zz/ud"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "starts with ~" in done.stderr and "absolute path" in done.stderr


def test_lines_into_a_pipe_whose_pages_are_taken_in_part_never_run_together(pipe_writes):
    """3000-byte lines take a 4 KB page each: counted in bytes the pipe looked roomier than it was, and a
    10 KB line went in by part with the next line after it."""
    from api_router.terminal import write_line

    read, write = os.pipe()
    stream = os.fdopen(write, "w", encoding="utf-8")
    try:
        for n in range(15):
            write_line(stream, f"Traceback {n} " + "T" * 2980)
        write_line(stream, "BIG " + "B" * 10_000)
        write_line(stream, "api-router: shutting down")
        os.set_blocking(read, False)
        got = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(read, 65536):
                got += chunk
        lines = got.split(b"\n")
        # (polled: the last line may stop where the pipe filled — and no line runs on from it)
        assert lines[-1] == b"" or pipe_writes == "polled"
        assert all(line.startswith((b"Traceback", b"BIG", b"api-router")) for line in lines if line), lines
        if pipe_writes == "own door":  # cut to PIPE_BUF, and says so (a polled pipe stops a line where it is full)
            assert all(line.endswith(b"...") for line in lines if line.startswith(b"BIG")), [len(x) for x in lines]
    finally:
        os.close(read)
        with contextlib.suppress(OSError):
            stream.close()


async def test_paths_whose_names_are_not_utf8_are_shown_with_escapes_and_answers_still_come(tmp_path):
    """A user-data folder and CODEX_HOME under a folder named in Latin-1: get_config and /status were a
    500 (JSON cannot hold the undecodable byte), and Connect Codex's event was lost (nor can SQLite)."""
    latin1 = tmp_path / os.fsdecode(b"caf\xe9")
    ud = setup_user_data(latin1, {"p1": "http://127.0.0.1:9/v1"})
    port = fp.free_port()
    proc = spawn(ud, "--port", str(port), env={"CODEX_HOME": str(latin1 / "codex")})
    try:
        await asyncio.to_thread(wait_health, port, proc)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:
            async def call(method: str) -> dict:
                async with s.post(f"http://127.0.0.1:{port}/api/{method}", json={}) as resp:
                    assert resp.status == 200, await resp.text()
                    return await resp.json()
            await call("get_status")
            paths = (await call("get_config"))["paths"]
            assert (await call("apply_codex_setup"))["codex_home"].endswith("caf\\xe9/codex")
            events = [e["message"] for e in (await call("list_events"))["events"]]
            async with s.get(f"http://127.0.0.1:{port}/status") as resp:
                assert resp.status == 200, await resp.text()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.to_thread(proc.communicate, timeout=15)
    assert paths["user_data"] == str(tmp_path) + "/caf\\xe9/ud"
    assert paths["codex_home"] == str(tmp_path) + "/caf\\xe9/codex"
    assert any("caf\\xe9/codex" in m for m in events), events
    assert (latin1 / "codex" / "auth.json").exists()  # the change is made where the path really is
    assert "caf\\xe9/ud" in out and "Traceback" not in err and "Logging error" not in err, err
    log = (ud / "data" / "api-router.log").read_text()
    assert "caf\\xe9/codex" in log


def test_the_repairs_a_start_makes_are_in_the_log_file_too(tmp_path):
    """A desktop start has no terminal: what it did to the user's files (a secrets.json it could not read
    moved aside, a new token made; an invalid value replaced) must be in data/api-router.log, not only on
    stderr and in the events."""
    ud = setup_user_data(tmp_path, {"p1": "http://127.0.0.1:9/v1"})
    (ud / "secrets.json").write_text("{not json")
    config = (ud / "config.toml").read_text()
    (ud / "config.toml").write_text(config.replace("[routing]\n", "[routing]\ncooldown_seconds = -5\n"))
    err = start_and_stop(ud)
    logged = (ud / "data" / "api-router.log").read_text()
    for said in ("secrets.json", "cooldown_seconds"):
        assert said in err, (said, err)
        assert any(said in line and ("WARNING" in line or "ERROR" in line) for line in logged.splitlines()), \
            (said, logged)
    assert err.count("was moved to") == logged.count("was moved to") >= 1, (err, logged)


def test_an_address_this_machine_does_not_have_is_refused_in_the_oss_words(tmp_path):
    ud = setup_user_data(tmp_path, {"p1": "http://127.0.0.1:9/v1"})
    text = (ud / "config.toml").read_text().replace("[listen]\n", "[listen]\nallow_remote = true\n")
    (ud / "config.toml").write_text(text)
    port = fp.free_port()
    proc = spawn(ud, "--host", "192.0.2.77", "--port", str(port))  # TEST-NET-1: no machine has it
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert f"cannot listen on 192.0.2.77:{port}: Cannot assign requested address" in err, err
    assert "('192.0.2.77'" not in err, err


def test_the_headless_set_up_warns_when_this_shell_would_send_codex_to_a_proxy():
    from api_router.proxyenv import codex_proxy_note

    url = "http://127.0.0.1:4000/v1"
    assert codex_proxy_note({"HTTPS_PROXY": "http://proxy:3128"}, url) is None  # Codex's http:// requests: direct
    assert codex_proxy_note({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "localhost,127.0.0.1"}, url) is None
    assert codex_proxy_note({"ALL_PROXY": "socks5://p:1080", "no_proxy": "*"}, url) is None
    note = codex_proxy_note({"http_proxy": "http://proxy:3128", "NO_PROXY": "localhost"}, url)
    assert note == ("This shell sets http_proxy: a Codex started from it sends its requests for "
                    "http://127.0.0.1:4000/v1 to that proxy — add NO_PROXY=127.0.0.1,localhost to its environment.")


def test_the_headless_banner_carries_the_proxy_note(tmp_path):
    port = fp.free_port()
    # A proxy that answers nothing: the gateway's own requests are not what this is about (it has no provider).
    out, err, status = start_and_quit(tmp_path / "ud", port, env={
        "HTTP_PROXY": "http://127.0.0.1:9", "http_proxy": "", "NO_PROXY": "", "no_proxy": "", "ALL_PROXY": "", "all_proxy": ""})
    assert status == 0, err
    assert f"This shell sets HTTP_PROXY: a Codex started from it sends its requests for http://127.0.0.1:{port}/v1" in out
