"""A tiny raster canvas and PNG encoder in pure Python (stdlib ``zlib`` and ``struct``) for the report charts.

The charts are flat shapes - rectangles, lines, dots - in a handful of colours, so the canvas keeps one
palette index per pixel (a ``bytearray``; a rectangle is one slice assignment per row) and writes an
indexed-colour PNG (colour type 3, 8 bits, no filter: flat colours compress well as they are). No text is
ever drawn: every label of a chart is HTML around the image (see :mod:`functions.reports.charts`), so
Chinese and English labels render with the reader's fonts. No anti-aliasing.
"""
from __future__ import annotations

import math
import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` as a triple."""
    value = colour.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"not a #rrggbb colour: {colour!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


class Canvas:
    """``width`` x ``height`` pixels of palette colours; (0, 0) is the top left corner. Shapes are clipped."""

    def __init__(self, width: int, height: int, background: str = "#ffffff"):
        if width < 1 or height < 1:
            raise ValueError("a canvas needs at least one pixel")
        self.width, self.height = width, height
        self.palette: list[tuple[int, int, int]] = [rgb(background)]
        self.pixels = bytearray(width * height)  # every pixel index 0: the background
        self._indices: dict[str, int] = {background: 0}

    def colour(self, colour: str) -> int:
        """The palette index of ``colour`` (added on first use; at most 256 colours)."""
        index = self._indices.get(colour)
        if index is None:
            triple = rgb(colour)
            if triple not in self.palette:
                if len(self.palette) == 256:
                    raise ValueError("a canvas holds at most 256 colours")
                self.palette.append(triple)
            index = self._indices[colour] = self.palette.index(triple)
        return index

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        return self.palette[self.pixels[y * self.width + x]]

    # -- shapes --------------------------------------------------------------------------------------
    def rect(self, x0: float, y0: float, x1: float, y1: float, colour: str) -> None:
        """Fill the pixels whose centres lie in [x0, x1) x [y0, y1) (rounded edges; empty when x1 <= x0)."""
        left, right = max(0, round(x0)), min(self.width, round(x1))
        top, bottom = max(0, round(y0)), min(self.height, round(y1))
        if right <= left or bottom <= top:
            return
        run = bytes((self.colour(colour),)) * (right - left)
        for y in range(top, bottom):
            start = y * self.width + left
            self.pixels[start:start + len(run)] = run

    def hline(self, x0: float, x1: float, y: float, colour: str, thickness: int = 1) -> None:
        top = round(y - thickness / 2)
        self.rect(x0, top, x1, top + thickness, colour)

    def vline(self, x: float, y0: float, y1: float, colour: str, thickness: int = 1) -> None:
        left = round(x - thickness / 2)
        self.rect(left, y0, left + thickness, y1, colour)

    def disc(self, cx: float, cy: float, radius: float, colour: str) -> None:
        for dy in range(-math.ceil(radius), math.ceil(radius) + 1):
            half = radius * radius - dy * dy
            if half < 0:
                continue
            half = math.sqrt(half)
            self.rect(cx - half, cy + dy - 0.5, cx + half, cy + dy + 0.5, colour)

    def line(self, x0: float, y0: float, x1: float, y1: float, colour: str, thickness: float = 1) -> None:
        """A straight line about ``thickness`` pixels wide: one run per column (a shallow line) or per row
        (a steep one), each as long as the line advances across it, so it never has gaps."""
        dx, dy = x1 - x0, y1 - y0
        half = thickness / 2
        index = self.colour(colour)
        width, height, pixels = self.width, self.height, self.pixels
        if abs(dx) >= abs(dy):
            if dx < 0:
                x0, y0, x1, y1, dx, dy = x1, y1, x0, y0, -dx, -dy
            slope = dy / dx if dx else 0.0
            extent = half + abs(slope) / 2
            for x in range(max(round(x0), 0), min(round(x1) + 1, width)):
                y = y0 + slope * ((x0 if x < x0 else x1 if x > x1 else x) - x0)
                top, bottom = int(y - extent + 0.5), int(y + extent + 0.5)
                for row in range(top if top > 0 else 0, bottom if bottom < height else height):
                    pixels[row * width + x] = index
        else:
            if dy < 0:
                x0, y0, x1, y1, dx, dy = x1, y1, x0, y0, -dx, -dy
            slope = dx / dy
            extent = half + abs(slope) / 2
            fill = bytes((index,)) * (int(2 * extent) + 2)
            for y in range(max(round(y0), 0), min(round(y1) + 1, height)):
                x = x0 + slope * ((y0 if y < y0 else y1 if y > y1 else y) - y0)
                left, right = int(x - extent + 0.5), int(x + extent + 0.5)
                left, right = (left if left > 0 else 0), (right if right < width else width)
                if right > left:
                    start = y * width + left
                    pixels[start:start + right - left] = fill[:right - left]

    def polyline(self, points: list[tuple[float, float]], colour: str, thickness: float = 1) -> None:
        for (xa, ya), (xb, yb) in zip(points, points[1:]):
            self.line(xa, ya, xb, yb, colour, thickness)
        if len(points) > 2:  # round the joints
            for x, y in points[1:-1]:
                self.disc(x, y, thickness / 2, colour)

    # -- output -------------------------------------------------------------------------------------
    def png(self) -> bytes:
        return encode_png(self.width, self.height, self.palette, self.pixels)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(width: int, height: int, palette: list[tuple[int, int, int]], pixels: bytes | bytearray) -> bytes:
    """An 8-bit indexed-colour PNG of ``pixels`` (one palette index per pixel, rows top to bottom)."""
    if len(pixels) != width * height:
        raise ValueError("pixels do not fill width x height")
    view = memoryview(bytes(pixels))
    raw = b"".join(b"\x00" + view[y * width:(y + 1) * width] for y in range(height))  # filter 0: none
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8 bits, indexed colour, deflate, no interlace
    plte = b"".join(struct.pack("BBB", *c) for c in palette)
    return (PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"PLTE", plte)
            + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b""))
