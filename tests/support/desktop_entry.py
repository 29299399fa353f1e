"""Reading a desktop entry the way a launcher does (for the autostart tests)."""

from __future__ import annotations


def parse_exec(value: str) -> list[str]:
    """A desktop entry's Exec value back to arguments, as a launcher does (Desktop Entry
    Specification): the string escapes first, then the quoting rules (inside double quotes a
    backslash escapes ``"`` `` ` `` ``$`` ``\\``), then ``%%`` -> ``%``."""
    escapes = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
    text, i = "", 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value) and value[i + 1] in escapes:
            text, i = text + escapes[value[i + 1]], i + 2
        else:
            text, i = text + value[i], i + 1
    args: list[str] = []
    current: str | None = None
    quoted, i = False, 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
                current, i = (current or "") + text[i + 1], i + 2
                continue
            if c == '"':
                quoted = False
            else:
                current = (current or "") + c
        elif c == '"':
            quoted, current = True, current or ""
        elif c == " ":
            if current is not None:
                args.append(current)
            current = None
        else:
            current = (current or "") + c
        i += 1
    if current is not None:
        args.append(current)
    return [a.replace("%%", "%") for a in args]
