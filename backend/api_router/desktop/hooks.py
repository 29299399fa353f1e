"""Test hook: with ``API_ROUTER_TEST_HOOKS=1``, once the page has loaded, call the control API from
JavaScript through ``window.pywebview.api`` and write what came back to
``$API_ROUTER_TEST_HOOK_FILE``. The desktop tests use it to check the real JS -> Python -> JS round
trip inside the real window; nothing happens unless both variables are set.

With ``API_ROUTER_TEST_HOOK_DOWNLOAD=1`` as well, the page then saves the request log's export the way
the Requests page does in the window (``save_export``), so a test can answer the real save dialog.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from api_router.desktop.window import AppWindow

log = logging.getLogger(__name__)

ENABLE_VAR = "API_ROUTER_TEST_HOOKS"
FILE_VAR = "API_ROUTER_TEST_HOOK_FILE"
DOWNLOAD_VAR = "API_ROUTER_TEST_HOOK_DOWNLOAD"

BRIDGE_PROBE = """(async () => {
  const api = window.pywebview.api;
  const out = {methods: Object.keys(api).sort(), href: window.location.href};
  try {
    const status = await api.get_status({});
    out.status = {version: status.version, port: status.listen.port};
    out.ui = (await api.get_config()).ui;
    // The page's width once the dashboard lists the providers (if any): no page may scroll sideways.
    const listed = Date.now() + 10000;  // a hidden window's timers run late: bounded in time, not in turns
    while (Object.keys(status.providers).length && Date.now() < listed &&
           !document.querySelector('[data-testid^="provider-row-"]')) {
      await new Promise((done) => setTimeout(done, 100));
    }
    out.page = {inner: window.innerWidth, scroll: document.documentElement.scrollWidth};
    try { await api.set_manual_override({provider: "no-such-provider"}); out.refused = null; }
    catch (e) { out.refused = String(e.message); }
  } catch (e) { out.error = String(e && e.message || e); }
  if (__DOWNLOAD__) {
    try { out.download = await api.save_export({format: "jsonl"}); }
    catch (e) { out.download = {error: String(e && e.message || e)}; }
  }
  return out;
})()"""


def hook_file(env: Mapping[str, str]) -> Path | None:
    if env.get(ENABLE_VAR) == "1" and env.get(FILE_VAR):
        return Path(env[FILE_VAR])
    return None


def wants_download(env: Mapping[str, str]) -> bool:
    return env.get(DOWNLOAD_VAR) == "1"


def install_bridge_probe(window: AppWindow, out: Path, *, download: bool = False) -> None:
    done = threading.Event()
    script = BRIDGE_PROBE.replace("__DOWNLOAD__", "true" if download else "false")

    def write(result: Any) -> None:
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text(json.dumps({"result": result}))
        os.replace(tmp, out)

    def on_loaded() -> None:
        if done.is_set():
            return
        done.set()
        try:
            window.evaluate_js(script, write)
        except Exception as exc:
            log.exception("test hook failed")
            write({"error": f"evaluate_js: {exc}"})

    window.on_loaded(on_loaded)
