"""A PNG read with the standard library only, to check a browser's screenshot.

`read_png(data)` checks the signature, every chunk's CRC, the header (8-bit RGB or RGBA, not
interlaced), and the image data (zlib, one filter byte a row, every row of the right length),
then undoes the row filters; it fails with `AssertionError` on anything else. `colours()` and
`colour_count` say what the picture holds: enough to tell a rendered page from a blank one, and
whether a given colour of the page's stylesheet is there.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

__all__ = ["Png", "colour_count", "read_png"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    channels: int
    pixels: bytes
    """Rows of `width * channels` bytes, top to bottom, filters undone."""

    def rgb(self) -> list[tuple[int, int, int]]:
        c, p = self.channels, self.pixels
        return [(p[i], p[i + 1], p[i + 2]) for i in range(0, len(p), c)]

    def colours(self) -> set[tuple[int, int, int]]:
        return set(self.rgb())


def colour_count(image: Png, colour: tuple[int, int, int], tolerance: int = 12) -> int:
    """How many pixels are within `tolerance` of `colour` in each channel."""
    r0, g0, b0 = colour
    return sum(
        1
        for r, g, b in image.rgb()
        if abs(r - r0) <= tolerance and abs(g - g0) <= tolerance and abs(b - b0) <= tolerance
    )


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == SIGNATURE, "not a PNG (signature)"
    found, at = [], 8
    while at < len(data):
        assert at + 12 <= len(data), "truncated chunk"
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert len(body) == length, f"truncated {kind!r} chunk"
        assert zlib.crc32(kind + body) == crc, f"bad CRC in the {kind!r} chunk"
        found.append((kind, body))
        at += 12 + length
        if kind == b"IEND":
            break
    assert found and found[0][0] == b"IHDR", "no IHDR first"
    assert found[-1][0] == b"IEND", "no IEND"
    return found


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> bytes:
    stride = width * bpp
    assert len(raw) == height * (stride + 1), "image data of the wrong length"
    out = bytearray()
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((x + p) & 0xFF for x, p in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                corner = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], corner)) & 0xFF
        else:
            assert kind == 0, f"unknown filter {kind} in row {y}"
        out += line
        prev = line
    return bytes(out)


def read_png(data: bytes) -> Png:
    """The picture in `data`, checked (see the module)."""
    chunks = _chunks(data)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert width > 0 and height > 0, "an empty image"
    assert depth == 8 and colour in (2, 6), f"not 8-bit RGB(A): depth {depth}, type {colour}"
    assert interlace == 0, "interlaced"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    return Png(width, height, bpp, _unfilter(raw, width, height, bpp))
