"""Pure parsers of the observe layer: the tar stream reader and the database listing."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from reconciler.drivers.mysql import client_argv, parse_listing, unescape_batch
from reconciler.observe.tarstream import iter_tar


def _tar(members: dict[str, bytes], fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


MEMBERS = {
    "/srv/p/web/sites/a.example.com/settings.php": b"<?php $x = 1;\n",
    "/srv/p/web/sites/" + "long" * 40 + "/settings.php": b"x" * 1500,
    "/srv/p/web/sites/new\nline/settings.php": b"",
    "/srv/p/web/sites/\u00e9t\u00e9/settings.php": b"\0\1\2",
}


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_tar_reader_matches_tarfile(fmt: int) -> None:
    members = (
        MEMBERS
        if fmt != tarfile.USTAR_FORMAT
        else {k: v for k, v in MEMBERS.items() if len(k) < 100}
    )
    assert dict(iter_tar(_tar(members, fmt))) == members


def test_tar_reader_reads_gnu_tar_output(tmp_path: Path) -> None:
    name = tmp_path / ("d" * 120) / "settings.php"
    name.parent.mkdir()
    name.write_bytes(b"hello")
    done = subprocess.run(
        ["tar", "-c", "-f", "-", "-P", str(name)], capture_output=True, check=True
    )
    assert dict(iter_tar(done.stdout)) == {str(name): b"hello"}


@pytest.mark.parametrize(
    "data", [b"", b"\0" * 1024, b"x" * 700, _tar(MEMBERS, tarfile.GNU_FORMAT)[:900]]
)
def test_tar_reader_never_raises(data: bytes) -> None:
    assert isinstance(list(iter_tar(data)), list)


def test_database_listing() -> None:
    out = (
        "D\tinformation_schema\t0\nD\twww_example_com_80fc0fb9\t16384\nD\tempty\t0\n"
        "D\tmysql\t123\nU\twww_example_com_80fc0fb9\t10.0.0.11\nU\troot\tlocalhost\n"
        "U\tweird\\ttab\t%\nbroken line\n"
    )
    listing = parse_listing(out)
    assert listing.databases == {"www_example_com_80fc0fb9": 16384, "empty": 0}
    assert ("www_example_com_80fc0fb9", "10.0.0.11") in listing.users
    assert ("weird\ttab", "%") in listing.users


@pytest.mark.parametrize(
    ("raw", "plain"), [("a\\tb", "a\tb"), ("a\\nb", "a\nb"), ("a\\\\b", "a\\b"), ("a\\0", "a\0")]
)
def test_unescape_batch(raw: str, plain: str) -> None:
    assert unescape_batch(raw) == plain


def test_client_argv_expands_home_in_the_remote_shell_only() -> None:
    argv = client_argv("~/.my.cnf", "SELECT 1")
    assert argv[:2] == ["sh", "-c"] and argv[-2:] == [".my.cnf", "SELECT 1"]
    assert client_argv("/etc/mysql/admin.cnf", "SELECT 1")[:2] == [
        "mysql",
        "--defaults-file=/etc/mysql/admin.cnf",
    ]
