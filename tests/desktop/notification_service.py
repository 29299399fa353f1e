"""A notification service for the tests: ``org.freedesktop.Notifications`` on the session bus
(``$DBUS_SESSION_BUS_ADDRESS``), answering like a desktop's would and appending every notification
it receives to a JSON-lines file.

    python notification_service.py RECORD_FILE [CAPABILITIES]

CAPABILITIES (comma-separated, default ``actions,body``) is what ``GetCapabilities`` answers, e.g.
``actions,body,body-markup`` for a service that reads the body as markup, as most desktops' do;
``silent`` makes a service that takes the name and answers no call at all (each is recorded as
``{"unanswered": METHOD}``).

Prints ``ready`` once it owns the name. A test "clicks" notification N with
``org.apirouter.TestNotifications.Click(N, "default")`` on the same object: the service then emits
``ActionInvoked(N, "default")`` and ``NotificationClosed(N, 2)``, as a desktop does for a click.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402 - after require_version, as gi wants

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
TEST_IFACE = "org.apirouter.TestNotifications"

XML = f"""<node>
  <interface name="{NAME}">
    <method name="GetCapabilities"><arg type="as" direction="out"/></method>
    <method name="Notify">
      <arg type="s" name="app_name" direction="in"/><arg type="u" name="replaces_id" direction="in"/>
      <arg type="s" name="app_icon" direction="in"/><arg type="s" name="summary" direction="in"/>
      <arg type="s" name="body" direction="in"/><arg type="as" name="actions" direction="in"/>
      <arg type="a{{sv}}" name="hints" direction="in"/><arg type="i" name="expire_timeout" direction="in"/>
      <arg type="u" name="id" direction="out"/>
    </method>
    <method name="CloseNotification"><arg type="u" name="id" direction="in"/></method>
    <method name="GetServerInformation">
      <arg type="s" direction="out"/><arg type="s" direction="out"/>
      <arg type="s" direction="out"/><arg type="s" direction="out"/>
    </method>
    <signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
    <signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
  </interface>
  <interface name="{TEST_IFACE}">
    <method name="Click"><arg type="u" name="id" direction="in"/><arg type="s" name="action" direction="in"/></method>
  </interface>
</node>"""


DEFAULT_CAPABILITIES = "actions,body"


class Service:
    def __init__(self, record: str, capabilities: str = DEFAULT_CAPABILITIES) -> None:
        self.record = record
        self.capabilities = [c for c in capabilities.split(",") if c]
        self.next_id = 0
        self.unanswered: list[Gio.DBusMethodInvocation] = []

    def call(self, conn: Gio.DBusConnection, sender: str, path: str, iface: str, method: str,
             params: GLib.Variant, invocation: Gio.DBusMethodInvocation) -> None:
        if self.capabilities == ["silent"]:
            self.unanswered.append(invocation)  # held, so GLib does not answer it as it drops it
            with open(self.record, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"unanswered": method}) + "\n")
        elif method == "GetCapabilities":
            invocation.return_value(GLib.Variant("(as)", (self.capabilities,)))
        elif method == "GetServerInformation":
            invocation.return_value(GLib.Variant("(ssss)", ("test-notifications", "api-router tests", "1", "1.2")))
        elif method == "Notify":
            app_name, replaces, icon, summary, body, actions, hints, timeout = params.unpack()
            self.next_id += 1
            nid = replaces or self.next_id
            entry: dict[str, Any] = {"id": nid, "app_name": app_name, "app_icon": icon, "summary": summary,
                                     "body": body, "actions": actions, "hints": hints, "expire_timeout": timeout,
                                     "sender": sender}
            with open(self.record, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")
            invocation.return_value(GLib.Variant("(u)", (nid,)))
        elif method == "CloseNotification":
            (nid,) = params.unpack()
            conn.emit_signal(None, PATH, NAME, "NotificationClosed", GLib.Variant("(uu)", (nid, 3)))
            invocation.return_value(None)
        elif method == "Click":
            nid, action = params.unpack()
            conn.emit_signal(None, PATH, NAME, "ActionInvoked", GLib.Variant("(us)", (nid, action)))
            conn.emit_signal(None, PATH, NAME, "NotificationClosed", GLib.Variant("(uu)", (nid, 2)))
            invocation.return_value(None)
        else:
            invocation.return_dbus_error("org.freedesktop.DBus.Error.UnknownMethod", method)


def main(argv: list[str]) -> int:
    service = Service(argv[1], argv[2] if len(argv) > 2 else DEFAULT_CAPABILITIES)
    loop = GLib.MainLoop()
    node = Gio.DBusNodeInfo.new_for_xml(XML)

    def on_bus(conn: Gio.DBusConnection, _name: str) -> None:
        for iface in node.interfaces:
            conn.register_object(PATH, iface, service.call, None, None)

    def on_name(_conn: Gio.DBusConnection, _name: str) -> None:
        print("ready", flush=True)

    def on_lost(_conn: Gio.DBusConnection, _name: str) -> None:
        print("lost the name", file=sys.stderr, flush=True)
        loop.quit()

    Gio.bus_own_name(Gio.BusType.SESSION, NAME, Gio.BusNameOwnerFlags.NONE, on_bus, on_name, on_lost)
    loop.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
