#!/usr/bin/env python3
"""Draw the API Router icon with Pillow: one input fanning out to three routes.

Writes ``backend/api_router/assets/icon.png`` (tray and window icon, loaded at run time) and
``build/icon.ico`` (the Windows executable's icon, every size Explorer and the taskbar ask for).
The shapes are drawn at 1024 px and scaled down, which gives clean anti-aliased edges; the
smallest sizes get a bolder drawing because thin strokes vanish at 16 px.

    python build/make_icon.py [--check]   (--check: fail if the committed files are out of date)
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
PNG_OUT = ROOT / "backend" / "api_router" / "assets" / "icon.png"
ICO_OUT = ROOT / "build" / "icon.ico"
ICO_SIZES = [16, 20, 24, 32, 40, 48, 64, 128, 256]
PNG_SIZE = 256
CANVAS = 1024
BACKGROUND = (15, 118, 110, 255)   # deep teal
FOREGROUND = (255, 255, 255, 255)
ACCENT = (253, 224, 71, 255)      # the route currently in use


def draw(size: int) -> Image.Image:
    bold = size <= 32
    img = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    margin = 24 if bold else 48
    d.rounded_rectangle((margin, margin, CANVAS - margin, CANVAS - margin), radius=200, fill=BACKGROUND)
    stroke = 110 if bold else 72
    dot = 120 if bold else 92
    hub = (360, 512)
    source = (180, 512)
    ends = [(800, 260), (800, 512), (800, 764)]
    d.line((source, hub), fill=FOREGROUND, width=stroke)
    for i, end in enumerate(ends):
        colour = ACCENT if i == 0 else FOREGROUND
        bend = (560, end[1])
        d.line((hub, bend, end), fill=colour, width=stroke, joint="curve")
        d.ellipse((end[0] - dot, end[1] - dot, end[0] + dot, end[1] + dot), fill=colour)
    r = dot + 10
    d.ellipse((hub[0] - r, hub[1] - r, hub[0] + r, hub[1] + r), fill=FOREGROUND)
    return img.resize((size, size), Image.Resampling.LANCZOS)


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
    wanted = {PNG_OUT: png_bytes(), ICO_OUT: ico_bytes()}
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
