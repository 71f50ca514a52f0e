"""The probe: one script per server, and the pure parser of what it prints.

`probe_command` gives the argument list and the script (sent on stdin); `parse_probe` turns the
probe's output into an `ObservedServer`. Parsing is pure and tested by tables of cases; nothing the
server holds is ever executed: settings.php is tokenized (`settings_php`), vhosts are scanned.
"""

from __future__ import annotations

import posixpath
import re
import secrets
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources

from reconciler.observe.models import (
    ObservedBackup,
    ObservedDatabase,
    ObservedModes,
    ObservedPlatform,
    ObservedServer,
    ObservedSite,
    ObservedVhost,
)
from reconciler.observe.settings_php import parse_settings
from reconciler.observe.tarstream import iter_tar

__all__ = ["ProbeRequest", "parse_probe", "probe_command", "probe_script"]

_MAX_OUTPUT = 1 << 30  # what a probe's output may inflate to
_FIELDS = {"V": 1, "H": 2, "R": 3, "P": 3, "E": 8, "B": 5, "S": 4, "W": 3}
_BACKUP_RE = re.compile(r"^(?P<site>.+)-(?P<time>\d{8}T\d{6}Z)(?:-\d+)?\.tar\.gz$")
_SERVER_NAME_RE = re.compile(rb"^\s*server_name\s+([^;]+);", re.MULTILINE)
_ROOT_RE = re.compile(rb"^\s*root\s+([^;]+);", re.MULTILINE)


@dataclass(frozen=True)
class ProbeRequest:
    """What to look at on one server: its roots and the platforms declared on it."""

    platforms_root: str
    backups_root: str
    vhost_dir: str = ""
    declared: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Declared platform name -> (codebase path, docroot)."""
    token: str = field(default_factory=lambda: secrets.token_hex(8))


def probe_script() -> bytes:
    return resources.files("reconciler.observe").joinpath("probe.sh").read_bytes()


def probe_command(request: ProbeRequest) -> tuple[list[str], bytes]:
    """The argument list to run, and the script to send on its stdin."""
    argv = [
        "sh",
        "-s",
        "--",
        request.token,
        request.platforms_root,
        request.backups_root,
        request.vhost_dir,
    ]
    for path, docroot in request.declared.values():
        argv += [path, docroot]
    return argv, probe_script()


@dataclass
class _SiteAcc:
    path: str
    dir_mode: str | None = None
    owners: dict[str, str] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)
    has_settings: bool = False
    files_bytes: int = 0
    private_bytes: int = 0


def _mode(text: str) -> str:
    return text.rjust(4, "0")


def _resolve(path: str, home: str) -> str:
    return f"{home}/{path[2:]}" if path.startswith("~/") else path


def parse_probe(server: str, request: ProbeRequest, output: bytes) -> ObservedServer:
    """The observed state of one server from the probe's output (pure)."""
    output = _unwrap(output)
    marker = b"\0TAR-" + request.token.encode() + b"\0"
    cut = output.find(marker)
    if cut < 0 or not output.startswith(b"V\0"):
        return ObservedServer(
            name=server,
            reachable=True,
            error="the probe's output is incomplete (is GNU find, tar and a POSIX sh installed?)",
        )
    fields = output[: cut + 1].split(b"\0")[:-1]
    tar = output[cut + len(marker) :]
    user = home = None
    problems: list[str] = []
    codebases: dict[str, tuple[str | None, str | None]] = {}
    order: list[str] = []
    sites: dict[tuple[str, str], _SiteAcc] = {}
    backups: list[ObservedBackup] = []
    vhosts: list[tuple[str, int, str]] = []
    i, n = 0, len(fields)
    while i < n:
        tag = fields[i].decode()
        width = _FIELDS.get(tag)
        if width is None or i + width >= n:
            problems.append(f"probe output: unexpected record {tag[:20]!r}")
            break
        values = [f.decode("utf-8", "surrogateescape") for f in fields[i + 1 : i + 1 + width]]
        i += 1 + width
        if tag == "H":
            user, home = values
        elif tag == "R":
            role, path, state = values
            if state != "ok":
                problems.append(f"{role} directory {path} is {state}")
        elif tag == "P":
            base, docroot, version = values
            if base not in codebases:
                order.append(base)
            codebases[base] = (None if docroot == "?" else docroot, version or None)
        elif tag == "E":
            _entry(sites, *values)
        elif tag == "S":
            top, name, kind, size = values
            acc = sites.get((top.removesuffix("/sites"), name))
            if acc is not None:
                if kind == "files":
                    acc.files_bytes = int(size)
                else:
                    acc.private_bytes = int(size)
        elif tag == "B":
            directory, filename, size, mtime, mode = values
            match = _BACKUP_RE.match(filename)
            backups.append(
                ObservedBackup(
                    id=filename.removesuffix(".tar.gz"),
                    site=match.group("site") if match else posixpath.basename(directory),
                    path=f"{directory}/{filename}",
                    size=int(size),
                    time=float(mtime),
                    mode=_mode(mode),
                )
            )
        elif tag == "W":
            path, size, mode = values
            vhosts.append((path, int(size), _mode(mode)))
    contents = dict(iter_tar(tar))
    home = home or ""
    by_path = {_resolve(path, home): name for name, (path, _) in request.declared.items()}
    platforms = [
        _platform(base, codebases[base], by_path.get(base), sites, contents) for base in order
    ]
    return ObservedServer(
        name=server,
        reachable=True,
        user=user,
        home=home or None,
        platforms=tuple(platforms),
        vhosts=tuple(_vhost(p, s, m, contents.get(p)) for p, s, m in sorted(vhosts)),
        backups=tuple(sorted(backups, key=lambda b: (b.site, b.time, b.id))),
        problems=tuple(problems),
    )


def _unwrap(output: bytes) -> bytes:
    """The probe's output without its compression ("Z" + gzip, or "R" + raw)."""
    if output.startswith(b"R"):
        return output[1:]
    if output.startswith(b"Z"):
        try:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            return inflater.decompress(output[1:], _MAX_OUTPUT)
        except zlib.error:
            return b""
    return output


def _entry(
    sites: dict[tuple[str, str], _SiteAcc],
    top: str,
    depth: str,
    rel: str,
    kind: str,
    mode: str,
    owner: str,
    group: str,
    size: str,
) -> None:
    docroot = top.removesuffix("/sites")
    if depth == "1":
        if kind == "d":
            acc = sites.setdefault((docroot, rel), _SiteAcc(f"{top}/{rel}"))
            acc.dir_mode = _mode(mode)
            acc.owners["siteDir"] = f"{owner}:{group}"
        return
    name, _, leaf = rel.partition("/")
    acc = sites.setdefault((docroot, name), _SiteAcc(f"{top}/{name}"))
    key = {"settings.php": "settings", "files": "files", "private": "private"}.get(leaf)
    if key is None:
        return
    if key == "settings":
        if kind != "f":
            return
        acc.has_settings = True
    elif kind != "d":
        return
    acc.modes[key] = _mode(mode)
    acc.owners[key] = f"{owner}:{group}"


def _platform(
    base: str,
    info: tuple[str | None, str | None],
    name: str | None,
    sites: Mapping[tuple[str, str], _SiteAcc],
    contents: Mapping[str, bytes],
) -> ObservedPlatform:
    docroot, version = info
    if docroot is None:
        return ObservedPlatform(name=name, path=base, docroot=None, core_version=None, exists=False)
    root = base if docroot == "." else f"{base}/{docroot}"
    found = [
        _site(site_name, acc, contents)
        for (top, site_name), acc in sorted(sites.items())
        if top == root and acc.has_settings
    ]
    return ObservedPlatform(
        name=name, path=base, docroot=docroot, core_version=version, sites=tuple(found)
    )


def _site(name: str, acc: _SiteAcc, contents: Mapping[str, bytes]) -> ObservedSite:
    text = contents.get(f"{acc.path}/settings.php")
    database: ObservedDatabase | None = None
    error: str | None = None
    includes: tuple[str, ...] = ()
    if text is None:
        error = "settings.php could not be read (permissions, or larger than 2 MB)"
    else:
        info = parse_settings(text)
        error = info.error
        includes = info.includes
        db = info.database
        if db is not None:
            database = ObservedDatabase(
                driver=db.driver,
                name=db.database,
                host=db.host,
                port=db.port,
                username=db.username,
                dynamic=db.dynamic,
            )
    return ObservedSite(
        name=name,
        path=acc.path,
        database=database,
        modes=ObservedModes(
            site_dir=acc.dir_mode,
            settings=acc.modes.get("settings"),
            files=acc.modes.get("files"),
            private=acc.modes.get("private"),
        ),
        owners=dict(acc.owners),
        files_bytes=acc.files_bytes,
        private_bytes=acc.private_bytes,
        settings_error=error,
        includes=includes,
    )


_BUILTIN_RE = re.compile(
    rb"^# Managed by reconciler: the PHP built-in web server of site (\S+)\.$", re.MULTILINE
)
_BUILTIN_KV_RE = re.compile(rb"^(docroot|state)=(.*)$", re.MULTILINE)


def _vhost(path: str, size: int, mode: str, text: bytes | None) -> ObservedVhost:
    """A vhost's server names and root; for PHP's built-in server (the embedded default), its
    description file: the site's name, and the docroot while it serves the site (none when it
    answers 503 for a disabled site, like nginx's disabled server block)."""
    names: list[str] = []
    root = None
    builtin = _BUILTIN_RE.search(text) if text is not None else None
    if builtin is not None and text is not None:
        fields = {k.decode(): v.decode("utf-8", "replace") for k, v in _BUILTIN_KV_RE.findall(text)}
        root = fields.get("docroot") if fields.get("state") == "present" else None
        site = builtin.group(1).decode("utf-8", "replace")
        return ObservedVhost(path=path, size=size, mode=mode, server_names=(site,), root=root)
    if text is not None:
        for match in _SERVER_NAME_RE.finditer(text):
            names += match.group(1).decode("utf-8", "replace").split()
        found = _ROOT_RE.search(text)
        root = found.group(1).decode("utf-8", "replace").strip() if found else None
    return ObservedVhost(path=path, size=size, mode=mode, server_names=tuple(names), root=root)


def declared_paths(items: Iterable[tuple[str, str, str]]) -> dict[str, tuple[str, str]]:
    """name, path, docroot triples as `ProbeRequest.declared`."""
    return {name: (path, docroot) for name, path, docroot in items}
