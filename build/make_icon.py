#!/usr/bin/env python3
"""Draw the API Router icon with Pillow: one input fanning out to three routes.

Writes ``backend/api_router/assets/icon.png`` (the window icon, loaded at run time),
``backend/api_router/assets/tray-{normal,warning,error}.png`` (the tray icon in each state) and
``build/icon.ico`` (the Windows executable's icon, every size Explorer and the taskbar ask for).
The shapes are drawn at 1024 px and scaled down, which gives clean anti-aliased edges; the
smallest sizes get a bolder drawing because thin strokes vanish at 16 px.

Tray states: *warning* adds an amber badge with a dark "!" (serving from a fallback, or a provider
cooling down); *error* turns the icon grey and adds a red badge with a white bar (no provider can
serve, or the gateway is not listening). The badge covers the lower right quarter and has a dark
outer and a white inner ring, so it stands out on light and dark panels alike; colour, symbol and
the grey base each tell the states apart (colour-blind users get the last two). The tray images are
64 px bold drawings that trays scale to 16-32 px.

    python build/make_icon.py [--check]   (--check: fail if the committed files are out of date)
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "backend" / "api_router" / "assets"
PNG_OUT = ASSETS / "icon.png"
TRAY_STATES = ("normal", "warning", "error")
TRAY_SIZE = 64
ICO_OUT = ROOT / "build" / "icon.ico"
ICO_SIZES = [16, 20, 24, 32, 40, 48, 64, 128, 256]
PNG_SIZE = 256
CANVAS = 1024
BACKGROUND = (15, 118, 110, 255)   # deep teal
FOREGROUND = (255, 255, 255, 255)
ACCENT = (253, 224, 71, 255)      # the route currently in use
GREY_BACKGROUND = (82, 90, 102, 255)
GREY_ACCENT = (200, 204, 210, 255)
BADGE_OUTLINE = (17, 24, 39, 255)  # near black
BADGE = {"warning": (245, 158, 11, 255),   # amber
         "error": (220, 38, 38, 255)}       # red
BADGE_MARK = {"warning": (17, 24, 39, 255), "error": (255, 255, 255, 255)}


def draw(size: int, *, bold: bool | None = None, state: str = "normal") -> Image.Image:
    bold = size <= 32 if bold is None else bold
    error = state == "error"
    background, accent = (GREY_BACKGROUND, GREY_ACCENT) if error else (BACKGROUND, ACCENT)
    img = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    margin = 24 if bold else 48
    d.rounded_rectangle((margin, margin, CANVAS - margin, CANVAS - margin), radius=200, fill=background)
    stroke = 110 if bold else 72
    dot = 120 if bold else 92
    hub = (360, 512)
    source = (180, 512)
    ends = [(800, 260), (800, 512), (800, 764)]
    d.line((source, hub), fill=FOREGROUND, width=stroke)
    for i, end in enumerate(ends):
        colour = accent if i == 0 else FOREGROUND
        bend = (560, end[1])
        d.line((hub, bend, end), fill=colour, width=stroke, joint="curve")
        d.ellipse((end[0] - dot, end[1] - dot, end[0] + dot, end[1] + dot), fill=colour)
    r = dot + 10
    d.ellipse((hub[0] - r, hub[1] - r, hub[0] + r, hub[1] + r), fill=FOREGROUND)
    if state in BADGE:
        _badge(d, state)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def _badge(d: ImageDraw.ImageDraw, state: str) -> None:
    cx, cy, r = 724, 724, 300
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=BADGE_OUTLINE)
    r -= 40
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 255, 255, 255))
    r -= 40
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=BADGE[state])
    mark = BADGE_MARK[state]
    if state == "warning":  # "!"
        d.rounded_rectangle((cx - 50, cy - 150, cx + 50, cy + 40), radius=36, fill=mark)
        d.ellipse((cx - 52, cy + 74, cx + 52, cy + 178), fill=mark)
    else:  # a bar: "no entry"
        d.rounded_rectangle((cx - 150, cy - 50, cx + 150, cy + 50), radius=36, fill=mark)


def tray_png_bytes(state: str) -> bytes:
    out = io.BytesIO()
    draw(TRAY_SIZE, bold=True, state=state).save(out, format="PNG", optimize=True)
    return out.getvalue()


def png_bytes() -> bytes:
    out = io.BytesIO()
    draw(PNG_SIZE).save(out, format="PNG", optimize=True)
    return out.getvalue()


def ico_bytes() -> bytes:
    # Pillow writes an ICO from one image plus the sizes; give it per-size drawings instead so the
    # small sizes keep their bolder strokes.
    images = [draw(s) for s in ICO_SIZES]
    out = io.BytesIO()
    images[-1].save(out, format="ICO", sizes=[(s, s) for s in ICO_SIZES], append_images=images[:-1])
    return out.getvalue()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the committed files are current")
    args = parser.parse_args(argv)
    wanted = {PNG_OUT: png_bytes(), ICO_OUT: ico_bytes(),
              **{ASSETS / f"tray-{state}.png": tray_png_bytes(state) for state in TRAY_STATES}}
    stale = [p for p, data in wanted.items() if not p.is_file() or p.read_bytes() != data]
    if args.check:
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)}", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(wanted[path])
        print(f"wrote {path.relative_to(ROOT)} ({len(wanted[path])} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
