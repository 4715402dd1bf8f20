"""Synthetic plate crops and overview images for the demo, as PNG, with no imaging library.

The demo's reads need images a dispatcher can verify against (P7): a plate crop showing the text
as the camera read it, dark characters on a light plate, and a simple overview (a vehicle of the
read's colour on a road). A 5x7 bitmap font, drawn scaled, and a minimal PNG encoder (zlib and
struct from the standard library) are enough; the plates are synthetic, never real data.
"""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache

__all__ = ["PLATE_SIZE", "OVERVIEW_SIZE", "encode_png", "overview_png", "plate_png"]

PLATE_SIZE = (240, 120)
OVERVIEW_SIZE = (320, 200)
Color = tuple[int, int, int]

# 5x7 glyphs, seven rows of five '#'/'.'; what a plate can hold (letters, digits, '-').
_FONT: dict[str, tuple[str, ...]] = {
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    "-": (".....", ".....", ".....", ".###.", ".....", ".....", "....."),
}

_INK: Color = (24, 28, 40)
_PLATE: Color = (246, 244, 236)
_STRIP: Color = (176, 32, 40)
_COLORS: dict[str, Color] = {
    "BLK": (30, 30, 34),
    "BLU": (40, 70, 150),
    "BRO": (110, 70, 40),
    "GRN": (40, 110, 60),
    "GRY": (130, 130, 135),
    "MAR": (110, 20, 40),
    "RED": (170, 30, 30),
    "SIL": (190, 192, 198),
    "TAN": (200, 170, 120),
    "WHI": (236, 236, 236),
    "YEL": (220, 190, 40),
}


class _Canvas:
    def __init__(self, width: int, height: int, fill: Color) -> None:
        self.width, self.height = width, height
        self.rows = [bytearray(bytes(fill) * width) for _ in range(height)]

    def rect(self, x: int, y: int, w: int, h: int, color: Color) -> None:
        x0, x1 = max(0, x), min(self.width, x + w)
        if x1 <= x0:
            return
        run = bytes(color) * (x1 - x0)
        for row in self.rows[max(0, y) : min(self.height, y + h)]:
            row[3 * x0 : 3 * x1] = run

    def text(self, text: str, x: int, y: int, sx: int, sy: int, color: Color) -> None:
        for n, ch in enumerate(text):
            glyph = _FONT.get(ch)
            if glyph is None:
                continue
            left = x + n * 6 * sx
            for row, cells in enumerate(glyph):
                for col, cell in enumerate(cells):
                    if cell == "#":
                        self.rect(left + col * sx, y + row * sy, sx, sy, color)

    def png(self) -> bytes:
        return encode_png(self.width, self.height, self.rows)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(width: int, height: int, rows: list[bytearray]) -> bytes:
    """An 8-bit RGB PNG of ``rows`` (3 bytes a pixel), each row unfiltered."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def _shown(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch in _FONT)[:16] or "-"


def _plate(canvas: _Canvas, plate: str, state: str | None, x: int, y: int, w: int, h: int) -> None:
    """A plate of ``w`` x ``h`` at (x, y): border, the state on a strip, the characters large."""
    border = max(2, h // 30)
    canvas.rect(x, y, w, h, _INK)
    canvas.rect(x + border, y + border, w - 2 * border, h - 2 * border, _PLATE)
    strip = h // 5
    canvas.rect(x + border, y + border, w - 2 * border, strip, _STRIP)
    label = _shown(state or "")
    if label != "-":
        s = max(1, strip // 9)
        canvas.text(
            label, x + (w - (6 * len(label) - 1) * s) // 2, y + border + (strip - 7 * s) // 2, s, s, _PLATE
        )
    text = _shown(plate)
    room_w, room_h = w - 6 * border - 8, h - strip - 4 * border - 8
    sx = max(1, min(room_w // (6 * len(text) - 1), room_h // 11))
    sy = max(1, min(room_h // 7, sx * 2))
    width = (6 * len(text) - 1) * sx
    top = y + border + strip + (h - strip - border - 7 * sy) // 2
    canvas.text(text, x + (w - width) // 2, top, sx, sy, _INK)


@lru_cache(maxsize=1024)
def plate_png(plate: str, state: str | None = None) -> bytes:
    """A plate crop of the text as read (letters, digits and '-'; others left out), ~240x120.

    Cached per text: the demo shows the same plates again and again."""
    canvas = _Canvas(*PLATE_SIZE, fill=(60, 62, 66))
    _plate(canvas, plate, state, 6, 6, PLATE_SIZE[0] - 12, PLATE_SIZE[1] - 12)
    return canvas.png()


@lru_cache(maxsize=1024)
def overview_png(plate: str, state: str | None = None, color: str | None = None) -> bytes:
    """A simple overview: road, a vehicle of the read's colour seen from behind, its plate."""
    width, height = OVERVIEW_SIZE
    canvas = _Canvas(width, height, fill=(150, 180, 205))  # sky
    canvas.rect(0, height // 3, width, height, (80, 82, 88))  # road
    for x in range(10, width, 60):
        canvas.rect(x, height - 14, 30, 5, (230, 230, 230))
    shades = sorted(_COLORS)  # no colour read: one chosen by the plate, the same every time
    body = _COLORS.get(
        (color or shades[zlib.crc32(plate.encode()) % len(shades)])[:3].upper(), _COLORS["GRY"]
    )
    canvas.rect(70, 40, 180, 60, _INK)  # rear window frame
    canvas.rect(80, 48, 160, 46, (120, 140, 160))  # rear window
    canvas.rect(50, 95, 220, 80, body)  # body
    canvas.rect(58, 105, 36, 16, (200, 40, 40))  # tail lights
    canvas.rect(226, 105, 36, 16, (200, 40, 40))
    canvas.rect(60, 175, 40, 20, _INK)  # tyres
    canvas.rect(220, 175, 40, 20, _INK)
    _plate(canvas, plate, state, 118, 128, 84, 42)
    return canvas.png()
