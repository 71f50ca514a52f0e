"""Structured logs (`reconciler.logs`): the processor chain checked with structlog's own
`capture_logs`, the rendered lines in both formats, and a process whose stderr is read back
line by line as JSON with no secret in it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from reconciler.logs import (
    MASK,
    REDACTED,
    bind_context,
    configure_logging,
    forget_secrets,
    get_logger,
    known_secrets,
    log_context,
    log_processors,
    redact_value,
    register_secret,
)
from reconciler.secrets import Secret, generate_hash_salt, generate_password

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Zq8vN2kLw9PxR4tY7uB1mC5dF0gH3jK6sA"
SALT = "oQ3x-7Lm_2Vb9Kd4Wn8Rt1Yz6Hc0Fj5Pa3Gs7Ue2Xi9Bk4Nm1Dq8Tw6Zr0Vy3Lc5Mh7Jp2So"


@pytest.fixture(autouse=True)
def clean_logging() -> Iterator[None]:
    """Each test starts configured (JSON into a throwaway stream) and leaves nothing behind."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    ssh_level = logging.getLogger("asyncssh").level
    configure_logging("json", stream=io.StringIO())
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("asyncssh").setLevel(ssh_level)
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    forget_secrets()


def _utc(stamp: Any) -> datetime:
    assert isinstance(stamp, str) and stamp.endswith("Z"), stamp
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert parsed.utcoffset() == timedelta(0)
    return parsed


def test_every_line_has_time_level_event_and_the_bound_context() -> None:
    log = get_logger("reconciler.test")
    with capture_logs(processors=log_processors()) as lines:
        with log_context(run=7, server="web1"):
            log.info("observe")
            with log_context(site="a.example", action="install", step="settings.php"):
                log.warning("step slow", seconds=3)
            log.info("observe done")
        log.info("outside")
    _utc(lines[0]["timestamp"])
    assert [(ln["level"], ln["event"]) for ln in lines] == [
        ("info", "observe"),
        ("warning", "step slow"),
        ("info", "observe done"),
        ("info", "outside"),
    ]
    assert dict(lines[1]) | {"timestamp": None, "log_level": None} == {
        "log_level": None,  # added by capture_logs itself
        "event": "step slow",
        "level": "warning",
        "logger": "reconciler.test",
        "timestamp": None,
        "run": 7,
        "server": "web1",
        "site": "a.example",
        "action": "install",
        "step": "settings.php",
        "seconds": 3,
    }
    assert "site" not in lines[2] and lines[2]["server"] == "web1"
    assert "run" not in lines[3]


def test_each_asyncio_task_carries_its_own_context() -> None:
    log = get_logger("reconciler.test")

    async def work(site: str) -> None:
        bind_context(site=site)
        for n in range(3):
            log.info("tick", n=n)
            await asyncio.sleep(0)

    async def both() -> None:
        with log_context(run=1):
            await asyncio.gather(work("a.example"), work("b.example"))

    with capture_logs(processors=log_processors()) as lines:
        asyncio.run(both())
    assert len(lines) == 6
    assert {ln["site"] for ln in lines} == {"a.example", "b.example"}
    assert [ln["site"] for ln in lines] != sorted(ln["site"] for ln in lines), "interleaved"
    assert all(ln["run"] == 1 for ln in lines)


def test_bind_context_takes_only_the_context_keys_and_none_unbinds() -> None:
    with pytest.raises(ValueError, match="not a log context key: password"):
        bind_context(password="x")
    with capture_logs(processors=log_processors()) as lines:
        bind_context(server="web1", step="vhost")
        bind_context(step=None)
        get_logger().info("x")
    assert lines[0]["server"] == "web1" and "step" not in lines[0]


REDACTION_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "inside the event",
        {"event": f"dump with {PASSWORD} failed"},
        {"event": f"dump with {REDACTED} failed"},
    ),
    ("a Secret object", {"db": Secret("anything")}, {"db": MASK}),
    ("key password", {"password": "not registered"}, {"password": MASK}),
    ("key db_password", {"db_password": 12345}, {"db_password": MASK}),
    ("key hash_salt", {"hash_salt": "not registered"}, {"hash_salt": MASK}),
    ("key webhook_secret", {"webhook_secret": b"raw"}, {"webhook_secret": MASK}),
    ("key api_token", {"api_token": ["a"]}, {"api_token": MASK}),
    ("a secret key left empty", {"password": None}, {"password": None}),
    (
        "nested",
        {"out": {"lines": [f"User password: {PASSWORD}", 3], "settings": {"hash_salt": SALT}}},
        {"out": {"lines": [f"User password: {REDACTED}", 3], "settings": {"hash_salt": MASK}}},
    ),
    (
        "shell-quoted",
        {"cmd": f"mysql --password='{PASSWORD}'"},
        {"cmd": f"mysql --password='{REDACTED}'"},
    ),
    (
        "the salt",
        {"settings": f"$settings['hash_salt'] = '{SALT}';"},
        {"settings": f"$settings['hash_salt'] = '{REDACTED}';"},
    ),
    ("in a tuple", {"args": ("drush", PASSWORD)}, {"args": ["drush", REDACTED]}),
    (
        "in an exception",
        {"error": RuntimeError(f"auth {PASSWORD}")},
        {"error": f"RuntimeError: auth {REDACTED}"},
    ),
    ("in another object", {"path": Path(f"/tmp/{PASSWORD}")}, {"path": f"/tmp/{REDACTED}"}),
    (
        "harmless values stay",
        {"n": 1, "ok": True, "x": 0.5, "none": None},
        {"n": 1, "ok": True, "x": 0.5, "none": None},
    ),
]


@pytest.mark.parametrize(
    ("fields", "expected"), [c[1:] for c in REDACTION_CASES], ids=[c[0] for c in REDACTION_CASES]
)
def test_redaction(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    register_secret(PASSWORD)
    register_secret(Secret(SALT))
    event = fields.pop("event", "e")
    with capture_logs(processors=log_processors()) as lines:
        get_logger().info(event, **fields)
    noise = ("timestamp", "level", "log_level", "logger")
    line = {k: v for k, v in lines[0].items() if k not in noise}
    assert line == {"event": expected.pop("event", "e"), **expected}


def test_registered_values_and_the_provider_are_both_used() -> None:
    register_secret(PASSWORD)
    register_secret("")  # ignored, not a secret that matches everything
    assert known_secrets() == {PASSWORD}
    with capture_logs(processors=log_processors(lambda: ["provided-value-1"])) as lines:
        get_logger().info("x", a=f"{PASSWORD} provided-value-1")
    assert lines[0]["a"] == f"{REDACTED} {REDACTED}"


def test_a_traceback_is_formatted_then_redacted() -> None:
    register_secret(PASSWORD)
    with capture_logs(processors=log_processors()) as lines:
        try:
            raise PermissionError(f"Access denied using password {PASSWORD}")
        except PermissionError:
            get_logger().exception("apply failed")
    assert "Traceback" in lines[0]["exception"]
    assert f"password {REDACTED}" in lines[0]["exception"]
    assert PASSWORD not in json.dumps(lines[0], default=str)


def test_thousands_of_registered_secrets_are_all_found() -> None:
    values = [generate_password() for _ in range(300)] + [generate_hash_salt() for _ in range(300)]
    for v in values:
        register_secret(v)
    short = "ab'c\"d"  # a different length, and escaping changes its shape
    register_secret(short)
    text = " ".join(values[::37]) + f" {values[-1]}{values[0]} end {json.dumps(short)}"
    redacted = redact_value({"out": text})
    assert isinstance(redacted, dict)
    out = redacted["out"]
    assert isinstance(out, str) and out.endswith(" end " + json.dumps(REDACTED))
    assert not [v for v in values if v in out]
    assert f"{REDACTED}{REDACTED}" in out


def _render(fmt: str) -> str:
    stream = io.StringIO()
    configure_logging(fmt, stream=stream)
    register_secret(PASSWORD)
    with log_context(run=3, site="a.example"):
        get_logger("reconciler.test").info("installed", token=PASSWORD, note=f"pw {PASSWORD}")
        logging.getLogger("asyncssh").warning("channel closed: %s", PASSWORD)
        logging.getLogger("asyncssh").info("too chatty: not shown")
        get_logger("reconciler.test").debug("not shown at INFO")
    return stream.getvalue()


def test_json_lines_for_ours_and_for_the_standard_library_loggers() -> None:
    lines = [json.loads(line) for line in _render("json").splitlines()]
    assert [list(ln)[:4] for ln in lines] == [["timestamp", "level", "logger", "event"]] * 2
    assert lines[0]["event"] == "installed" and lines[0]["token"] == MASK
    assert lines[0]["note"] == f"pw {REDACTED}"
    assert lines[1] == lines[1] | {
        "logger": "asyncssh",
        "level": "warning",
        "event": f"channel closed: {REDACTED}",
        "run": 3,
        "site": "a.example",
    }
    _utc(lines[1]["timestamp"])


def test_console_lines_are_readable_and_redacted_too() -> None:
    text = _render("console")
    lines = text.splitlines()
    assert len(lines) == 2, text
    assert "installed" in lines[0] and "[info" in lines[0] and "site=a.example" in lines[0]
    assert f"token={MASK}" in lines[0] and "\x1b[" not in text
    assert PASSWORD not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[0])


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_format_means_console_on_a_terminal_and_json_elsewhere() -> None:
    assert configure_logging(None, stream=io.StringIO()) == "json"
    assert configure_logging(None, stream=_Tty()) == "console"
    with pytest.raises(ValueError, match="unknown log format"):
        configure_logging("xml", stream=io.StringIO())
    root = logging.getLogger()
    assert len([h for h in root.handlers if h.get_name() == "reconciler"]) == 1


SCRIPT = textwrap.dedent(
    """
    import json, logging, sys
    import click
    from reconciler.cli.main import cli, main
    from reconciler.cli.options import global_options
    from reconciler.logs import get_logger, log_context, register_secret
    from reconciler.secrets import Secret, generate_hash_salt, generate_password

    known = [generate_password(), generate_hash_salt(), generate_password()]
    print(json.dumps(known), flush=True)

    @cli.command("logdemo")
    @global_options
    def logdemo() -> None:
        register_secret(known[0])
        register_secret(Secret(known[1]))
        log = get_logger("reconciler.logdemo")
        with log_context(run=1, server="web1", site="a.example", action="install"):
            log.info("install", password=known[2], out=f"User password: {known[0]}")
            log.info("salt", settings=f"hash_salt = '{known[1]}'", salt=Secret(known[1]))
            logging.getLogger("asyncssh").error("auth failed for %s", known[0])
            try:
                raise RuntimeError(f"drush failed: --account-pass={known[0]}")
            except RuntimeError:
                log.exception("step failed", step="site:install")

    main(sys.argv[1:])
    """
)


@pytest.mark.parametrize(
    ("argv", "fmt"),
    [
        (["logdemo"], "json"),  # stderr is a pipe: JSON without asking
        (["--log-format", "json", "logdemo"], "json"),
        (["logdemo", "--log-format", "console"], "console"),
    ],
    ids=["default-not-a-tty", "json-before-the-command", "console-after-the-command"],
)
def test_the_cli_logs_on_stderr_as_asked_and_never_a_secret(argv: list[str], fmt: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    known: list[str] = json.loads(done.stdout)
    lines = done.stderr.splitlines()
    for secret in known:
        assert secret not in done.stderr and json.dumps(secret)[1:-1] not in done.stderr
    if fmt == "console":
        assert "install" in lines[0] and "site=a.example" in lines[0]
        assert not [ln for ln in lines if ln.startswith("{")]
        return
    parsed = [json.loads(line) for line in lines]
    assert [p["event"] for p in parsed] == [
        "install",
        "salt",
        f"auth failed for {REDACTED}",
        "step failed",
    ]
    assert all(p["run"] == 1 and p["site"] == "a.example" for p in parsed)
    assert parsed[0]["password"] == MASK and parsed[1]["salt"] == MASK
    assert "Traceback" in parsed[3]["exception"] and parsed[3]["step"] == "site:install"
