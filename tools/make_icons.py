"""Draw Vellum's app icons (the favicon's "V" on its slate tile) as PNGs, with no imaging library.

    python tools/make_icons.py [OUT_DIR]     (default: web/icons; the PNGs are committed)

Shapes are rasterised by scanline: for each of SUBROWS sub-rows per pixel row, the exact horizontal extent of every
shape is intersected with each pixel, which gives smooth anti-aliased edges at any size. Output: 8-bit RGBA PNGs
written with zlib + struct.

- icon-192.png, icon-512.png: a rounded tile (purpose "any"), transparent corners;
- icon-maskable-512.png: a full-bleed tile whose glyph sits inside the maskable safe zone (the central 80% circle);
- apple-touch-icon.png (180): full-bleed, for iOS home screens.
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

TILE = (0x2F, 0x3B, 0x52)  # the favicon's slate
INK = (0xF4, 0xEF, 0xE4)  # its parchment
# The favicon's glyph, on a 64-unit grid.
GLYPH = [(16, 16), (25, 16), (32, 38), (39, 16), (48, 16), (37, 48), (27, 48)]
SUBROWS = 4

Span = tuple[float, float]
Shape = Callable[[float], list[Span]]


def polygon(points: Sequence[tuple[float, float]]) -> Shape:
    edges = list(zip(points, [*points[1:], points[0]], strict=True))

    def spans(y: float) -> list[Span]:
        xs = sorted(
            x0 + (y - y0) * (x1 - x0) / (y1 - y0)
            for (x0, y0), (x1, y1) in edges
            if (y0 <= y < y1) or (y1 <= y < y0)
        )
        return list(zip(xs[::2], xs[1::2], strict=True))

    return spans


def rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float) -> Shape:
    def spans(y: float) -> list[Span]:
        if not y0 <= y < y1:
            return []
        dy = max(y0 + r - y, y - (y1 - r), 0.0)
        inset = r - (r * r - dy * dy) ** 0.5 if dy else 0.0
        return [(x0 + inset, x1 - inset)]

    return spans


def coverage(shape: Shape, size: int) -> list[list[float]]:
    rows = []
    for py in range(size):
        row = [0.0] * size
        for sub in range(SUBROWS):
            for a, b in shape(py + (sub + 0.5) / SUBROWS):
                a, b = max(a, 0.0), min(b, float(size))
                for px in range(int(a), min(int(b) + 1, size)):
                    overlap = min(b, px + 1) - max(a, px)
                    if overlap > 0:
                        row[px] += overlap / SUBROWS
        rows.append(row)
    return rows


def draw(size: int, *, full_bleed: bool, glyph_scale: float) -> bytes:
    unit = size / 64
    tile = rounded_rect(0, 0, size, size, 0 if full_bleed else 14 * unit)
    # Scale the glyph about the tile's centre (32, 32).
    centre = size / 2
    scale = unit * glyph_scale
    glyph = polygon([(centre + (x - 32) * scale, centre + (y - 32) * scale) for x, y in GLYPH])
    tile_cov, glyph_cov = coverage(tile, size), coverage(glyph, size)
    raw = bytearray()
    for ty, gy in zip(tile_cov, glyph_cov, strict=True):
        raw.append(0)  # filter: none
        for t, g in zip(ty, gy, strict=True):
            t, g = min(t, 1.0), min(g, 1.0)
            rgb = [round(c0 + (c1 - c0) * g) for c0, c1 in zip(TILE, INK, strict=True)]
            raw += bytes([*rgb, round(255 * t)])
    return png(size, size, bytes(raw))


def png(width: int, height: int, rgba_rows: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rgba_rows, 9)) + chunk(
        b"IEND", b""
    )


ICONS = {
    "icon-192.png": (192, False, 1.0),
    "icon-512.png": (512, False, 1.0),
    # The safe zone is a circle of radius 40% of the size; the glyph spans 32/64 wide at scale 1, so 0.8 keeps its
    # corners well inside it.
    "icon-maskable-512.png": (512, True, 0.8),
    "apple-touch-icon.png": (180, True, 0.9),
}


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "web" / "icons"
    out.mkdir(parents=True, exist_ok=True)
    for name, (size, full_bleed, glyph_scale) in ICONS.items():
        (out / name).write_bytes(draw(size, full_bleed=full_bleed, glyph_scale=glyph_scale))
        print(f"{out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
