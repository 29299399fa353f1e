"""A StatusNotifier watcher for the tests: ``org.kde.StatusNotifierWatcher`` on the session bus
(``$DBUS_SESSION_BUS_ADDRESS``) that says whether a host registered with it, as KDE's does.

    python sni_watcher.py HOST_REGISTERED   (true or false)

Prints ``ready`` once it owns the name. Items that register are accepted and kept, never shown: the
tests ask only what the watcher says.
"""

from __future__ import annotations

import sys

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402 - after require_version, as gi wants

NAME = "org.kde.StatusNotifierWatcher"
PATH = "/StatusNotifierWatcher"

XML = f"""<node>
  <interface name="{NAME}">
    <method name="RegisterStatusNotifierItem"><arg type="s" direction="in"/></method>
    <method name="RegisterStatusNotifierHost"><arg type="s" direction="in"/></method>
    <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
    <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
    <property name="ProtocolVersion" type="i" access="read"/>
  </interface>
</node>"""


def main(argv: list[str]) -> int:
    host = argv[1] == "true"
    items: list[str] = []
    loop = GLib.MainLoop()
    node = Gio.DBusNodeInfo.new_for_xml(XML)

    def call(conn: Gio.DBusConnection, sender: str, path: str, iface: str, method: str, params: GLib.Variant,
             invocation: Gio.DBusMethodInvocation) -> None:
        if method == "RegisterStatusNotifierItem":
            items.append(params.unpack()[0])
        invocation.return_value(None)

    def get(conn: Gio.DBusConnection, sender: str, path: str, iface: str, prop: str) -> GLib.Variant:
        return {"RegisteredStatusNotifierItems": GLib.Variant("as", items),
                "IsStatusNotifierHostRegistered": GLib.Variant("b", host),
                "ProtocolVersion": GLib.Variant("i", 0)}[prop]

    def on_bus(conn: Gio.DBusConnection, _name: str) -> None:
        conn.register_object(PATH, node.interfaces[0], call, get, None)

    def on_name(_conn: Gio.DBusConnection, _name: str) -> None:
        print("ready", flush=True)

    Gio.bus_own_name(Gio.BusType.SESSION, NAME, Gio.BusNameOwnerFlags.NONE, on_bus, on_name, lambda *_: loop.quit())
    loop.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
