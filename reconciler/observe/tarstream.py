"""A minimal reader of the tar stream the probe sends: member paths and contents, fast.

Python's `tarfile` costs about 20 microseconds a member; observing thousands of sites per server
wants less. This reader knows the ustar header, GNU long names ('L') and pax path records ('x'),
which is all GNU tar writes for regular files. It never raises: a damaged stream just ends early.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["iter_tar"]

_BLOCK = 512


def _octal(field: bytes) -> int:
    field = field.rstrip(b"\0 ").lstrip(b" ")
    if not field:
        return 0
    if field[0] & 0x80:  # GNU base-256 for large sizes
        value = field[0] & 0x7F
        for byte in field[1:]:
            value = (value << 8) | byte
        return value
    return int(field, 8)


def _pax_path(data: bytes) -> str | None:
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            return None
        try:
            length = int(data[pos:space])
        except ValueError:
            return None
        record = data[space + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        if key == b"path":
            return value.decode("utf-8", "surrogateescape")
        if length <= 0:
            return None
        pos += length
    return None


def iter_tar(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(path, content) of every regular file in a tar stream."""
    pos = 0
    long_name: str | None = None
    end = len(data)
    while pos + _BLOCK <= end:
        header = data[pos : pos + _BLOCK]
        if header.count(0) == _BLOCK:
            return
        try:
            size = _octal(header[124:136])
        except ValueError:
            return
        kind = header[156:157]
        start = pos + _BLOCK
        body = data[start : start + size]
        pos = start + (size + _BLOCK - 1) // _BLOCK * _BLOCK
        if len(body) < size:
            return
        if kind == b"L":
            long_name = body.rstrip(b"\0").decode("utf-8", "surrogateescape")
            continue
        if kind == b"x":
            long_name = _pax_path(body) or long_name
            continue
        if long_name is not None:
            name, long_name = long_name, None
        else:
            prefix = header[345:500].split(b"\0", 1)[0]
            base = header[0:100].split(b"\0", 1)[0]
            raw = prefix + b"/" + base if prefix and header[257:262] == b"ustar" else base
            name = raw.decode("utf-8", "surrogateescape")
        if kind in (b"0", b"\0", b"7"):
            yield name, body
