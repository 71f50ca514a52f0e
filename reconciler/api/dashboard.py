"""The controller's dashboard: one read-only HTML page of its latest view (`GET /`).

`render_dashboard(status, runs, now)` is pure: from the `status` JSON document the controller
publishes (`/api/status`: servers, platforms, sites, the pending plan, the controller's own
section) and the journal's recent runs, it writes one self-contained page: no script, no external
asset, one inline stylesheet allowed by its hash in `CONTENT_SECURITY_POLICY`, every text from
the document HTML-escaped (site names and error texts are not trusted). The page reloads itself
every `refresh` seconds (`<meta http-equiv="refresh">`) and says when its data was taken.

States are written as words (colour only repeats them), tables have headers, and each site row
carries `data-site`, `data-server`, `data-platform`, `data-sync`, `data-health` and
`data-last-result` for scripts and tests; platform, server and run rows have their own `data-`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any, Final

from reconciler.journal.model import RunSummary, format_time, parse_time

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "DASHBOARD_HEADERS",
    "RECENT_RUNS",
    "REFRESH_SECONDS",
    "render_dashboard",
]

REFRESH_SECONDS: Final = 10
"""How often the page reloads itself."""
RECENT_RUNS: Final = 20
"""How many of the journal's latest runs the controller publishes for the page."""

_STYLE: Final = """
:root{color-scheme:light dark;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--dim:#6e7781}
body{font:14px/1.4 system-ui,sans-serif;margin:1rem 1.5rem}
h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #8884;padding:.25rem .5rem;text-align:left;vertical-align:top}
thead th{background:#8881}caption{text-align:left;color:var(--dim)}
.ok{color:var(--ok);font-weight:600}.warn{color:var(--warn);font-weight:600}
.bad{color:var(--bad);font-weight:600}.dim,.empty{color:var(--dim)}
pre{white-space:pre-wrap;margin:.2rem 0;max-height:12rem;overflow:auto}
code{font-size:90%}.meta{color:var(--dim);margin:0}.alert{color:var(--bad)}
.ok,.warn,.bad,.dim{white-space:nowrap}
.long,.alert,pre,code{overflow-wrap:anywhere}.long{display:block;min-width:10rem}
.act{min-width:13rem}
"""
_STYLE_HASH: Final = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

CONTENT_SECURITY_POLICY: Final = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
"""Nothing but the page's own stylesheet: no script, image, font, frame or connection."""

DASHBOARD_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

_GOOD: Final = frozenset({"Synced", "Healthy", "succeeded", "reachable"})
_WARN: Final = frozenset(
    {"OutOfSync", "Missing", "Progressing", "Degraded", "running", "pending", "skipped"}
)
_BAD: Final = frozenset({"Failed", "failed", "interrupted", "unreachable", "undone"})


def _e(value: object) -> str:
    """`value` as escaped text (None as empty)."""
    return "" if value is None else escape(str(value), quote=True)


def _long(value: object) -> str:
    """A long text (a reason): wrapped anywhere, so that a path does not widen the page."""
    return f'<span class="long">{_e(value)}</span>' if value else ""


def _state(value: object) -> str:
    """A state as a word, coloured by a class from a fixed list (never from the value)."""
    text = "unknown" if value is None or value == "" else str(value)
    cls = "ok" if text in _GOOD else "warn" if text in _WARN else "bad" if text in _BAD else "dim"
    return f'<span class="{cls}">{_e(text)}</span>'


def _rows(document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    found = document.get(key)
    return [row for row in found if isinstance(row, Mapping)] if isinstance(found, list) else []


def _short(revision: object) -> str:
    return str(revision)[:12] if revision else ""


def _when(at: object, now: datetime) -> str:
    """A journal timestamp as `<time>`, with how long before `now` it was."""
    if not at:
        return ""
    text = str(at)
    try:
        seconds = int((now - parse_time(text)).total_seconds())
    except ValueError:
        return f"<time>{_e(text)}</time>"
    span = f"{abs(seconds)} s" if abs(seconds) < 120 else f"{abs(seconds) // 60} min"
    ago = f"{span} ago" if seconds >= 0 else f"in {span}"
    shown = text.replace("T", " ")[:19] + "Z"
    return f'<time datetime="{_e(text)}" title="{_e(text)}">{_e(shown)}</time> ({_e(ago)})'


def _error(text: object) -> str:
    """An error text: its first line, the whole of it folded below."""
    if not text:
        return ""
    full = str(text).strip()
    first = full.splitlines()[0] if full else ""
    if first == full and len(full) <= 160:
        return f'<div class="alert">{_e(full)}</div>'
    return (
        f'<details><summary class="alert">{_e(first[:160])}</summary>'
        f"<pre>{_e(full)}</pre></details>"
    )


def _last(last: object, now: datetime) -> str:
    if not isinstance(last, Mapping):
        return '<span class="dim">none</span>'
    return (
        f'<div class="act"><code>{_e(last.get("kind"))}</code> {_state(last.get("result"))} '
        f"{_when(last.get('at'), now)}{_error(last.get('error'))}</div>"
    )


def _table(
    ident: str, title: str, headers: Sequence[str], rows: Sequence[str], empty: str, note: str = ""
) -> str:
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    body = "".join(rows) or (
        f'<tr><td colspan="{len(headers)}" class="empty">{_e(empty)}</td></tr>'
    )
    caption = f"<caption>{note}</caption>" if note else ""
    return (
        f'<section id="{ident}" aria-labelledby="{ident}-h"><h2 id="{ident}-h">{_e(title)}</h2>'
        f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>"
    )


def _tr(data: Mapping[str, object], cells: Sequence[str]) -> str:
    """A row: its first cell the row's header, the `data-` attributes on it."""
    attrs = "".join(f' data-{k}="{_e(v)}"' for k, v in data.items())
    head, *rest = cells
    return (
        f'<tr{attrs}><th scope="row">{head}</th>' + "".join(f"<td>{c}</td>" for c in rest) + "</tr>"
    )


def _servers(status: Mapping[str, Any]) -> str:
    rows = []
    for s in _rows(status, "servers"):
        word = "reachable" if s.get("reachable") else "unreachable"
        rows.append(
            _tr(
                {"server": s.get("name"), "reachable": word},
                [_e(s.get("name")), _state(word), _error(s.get("error"))],
            )
        )
    return _table("servers", "Servers", ("Server", "State", "Error"), rows, "No servers declared.")


def _platforms(status: Mapping[str, Any], now: datetime) -> str:
    rows = [
        _tr(
            {"platform": p.get("name"), "sync": p.get("sync"), "health": p.get("health")},
            [
                _e(p.get("name")),
                _e(p.get("server")),
                _e(p.get("coreVersion")),
                _state(p.get("sync")),
                _state(p.get("health")),
                _long(p.get("reason")),
                _last(p.get("lastAction"), now),
            ],
        )
        for p in _rows(status, "platforms")
    ]
    headers = ("Platform", "Server", "Core", "Sync", "Health", "Reason", "Last action")
    return _table("platforms", "Platforms", headers, rows, "No platforms declared.")


def _retry(retry: object, now: datetime) -> str:
    if not isinstance(retry, Mapping):
        return ""
    return f"attempt {_e(retry.get('attempts'))}, next {_when(retry.get('nextAt'), now)}"


def _cron(cron: object, now: datetime) -> str:
    if not isinstance(cron, Mapping):
        return ""
    return f"{_state(cron.get('result'))} {_when(cron.get('at'), now)}{_error(cron.get('error'))}"


def _sites(status: Mapping[str, Any], now: datetime) -> str:
    rows = []
    for s in _rows(status, "sites"):
        last = s.get("lastAction")
        data = {
            "site": s.get("name"),
            "server": s.get("server"),
            "platform": s.get("platform"),
            "sync": s.get("sync"),
            "health": s.get("health") or "unknown",
            "last-result": last.get("result") if isinstance(last, Mapping) else "",
        }
        rows.append(
            _tr(
                data,
                [
                    _e(s.get("name")),
                    _e(s.get("server")),
                    _e(s.get("platform")),
                    _e(s.get("coreVersion")),
                    _state(s.get("sync")),
                    _state(s.get("health")),
                    _long(s.get("reason")),
                    _last(last, now),
                    _cron(s.get("lastCron"), now),
                    _retry(s.get("retry"), now),
                ],
            )
        )
    headers = (
        "Site", "Server", "Platform", "Core", "Sync", "Health", "Reason", "Last action",
        "Last cron", "Retry",
    )  # fmt: skip
    return _table("sites", "Sites", headers, rows, "No sites declared.")


def _unmanaged(status: Mapping[str, Any]) -> str:
    rows = []
    for u in _rows(status, "unmanaged"):
        data = {"unmanaged": u.get("name"), "kind": u.get("kind")}
        path = f"<code>{_e(u.get('path'))}</code>"
        rows.append(_tr(data, [_e(u.get("name")), _e(u.get("kind")), _e(u.get("server")), path]))
    headers = ("Name", "Kind", "Server", "Path")
    return _table("unmanaged", "Unmanaged", headers, rows, "Nothing unmanaged found.")


def _summary_line(plan: Mapping[str, Any]) -> str:
    summary = plan.get("summary")
    s = summary if isinstance(summary, Mapping) else {}
    return (
        f"Plan: {_e(s.get('add', 0))} to add, {_e(s.get('change', 0))} to change, "
        f"{_e(s.get('delete', 0))} to delete."
    )


def _plan(status: Mapping[str, Any], controller: Mapping[str, Any]) -> str:
    plan = status.get("pendingPlan")
    if not isinstance(plan, Mapping):
        return _table("plan", "Pending plan", ("Action",), [], "No plan yet.")
    held = controller.get("held")
    held = held if isinstance(held, Mapping) else {}
    rows = []
    for n, a in enumerate(_rows(plan, "actions"), 1):
        obj = a.get("object")
        obj = obj if isinstance(obj, Mapping) else {}
        rows.append(
            _tr(
                {"action": a.get("id"), "kind": a.get("kind")},
                [
                    str(n),
                    f"<code>{_e(a.get('kind'))}</code>",
                    f"{_e(obj.get('kind'))} <strong>{_e(obj.get('name'))}</strong>",
                    _e(a.get("server")),
                    _long(a.get("reason")),
                    _e(held.get(str(a.get("id")), "")),
                ],
            )
        )
    notes = plan.get("notes")
    note_items = "".join(f"<li>{_e(n)}</li>" for n in notes) if isinstance(notes, list) else ""
    line = _summary_line(plan)
    if not rows:
        line = f"No changes. The servers match git at {_e(_short(plan.get('revision')))}. {line}"
    headers = ("#", "Action", "Object", "Server", "Reason", "Held")
    table = _table("plan", "Pending plan", headers, rows, "Nothing to do.", line)
    return table + (f'<ul class="notes">{note_items}</ul>' if note_items else "")


def _runs(runs: Sequence[RunSummary], now: datetime) -> str:
    rows = []
    for r in runs:
        failed = f' <span class="bad">{r.failed} failed</span>' if r.failed else ""
        rows.append(
            _tr(
                {"run": r.id, "status": r.status},
                [
                    str(r.id),
                    f'<code title="{_e(r.revision)}">{_e(_short(r.revision))}</code>',
                    _e(r.trigger),
                    _state(r.status),
                    _when(r.started_at, now),
                    _when(r.ended_at, now) if r.ended_at else '<span class="dim">running</span>',
                    f"{r.actions}{failed}",
                ],
            )
        )
    headers = ("Run", "Commit", "Trigger", "Result", "Started", "Ended", "Actions")
    return _table("runs", "Recent runs", headers, rows, "No runs recorded yet.")


def _header(status: Mapping[str, Any], controller: Mapping[str, Any], when: str) -> str:
    revision = status.get("revision") or controller.get("revision")
    ready = "ready" if controller.get("ready") else "not ready (first observe running)"
    leading = "leading" if controller.get("leading") else "standing by (another controller leads)"
    parts = [
        "<header><h1>reconciler</h1>",
        f'<p class="meta">Commit <code>{_e(revision or "none yet")}</code> · {_e(ready)} · '
        f"{_e(leading) if controller else ''}</p>",
        f'<p class="meta">{when}</p>',
    ]
    for key, label in (("sourceError", "Source error"), ("planRefused", "Plan refused")):
        if controller.get(key):
            parts.append(f'<p class="alert" role="alert">{label}: {_e(controller[key])}</p>')
    sites = _rows(status, "sites")
    tallies = [f"{len(sites)} site{'' if len(sites) == 1 else 's'}"]
    for key, label in (("sync", "sync"), ("health", "health")):
        counts: dict[str, int] = {}
        for s in sites:
            word = str(s.get(key) or "unknown")
            counts[word] = counts.get(word, 0) + 1
        if counts:
            tallies.append(f"{label}: " + ", ".join(f"{_state(w)} {n}" for w, n in counts.items()))
    parts.append(f'<p id="summary">{" · ".join(tallies)}</p>')
    return "".join(parts) + "</header>"


def render_dashboard(
    status: Mapping[str, Any],
    runs: Sequence[RunSummary],
    now: datetime,
    *,
    taken_at: datetime | None = None,
    refresh: int = REFRESH_SECONDS,
) -> str:
    """The page: `status` (the `/api/status` document) and the journal's recent `runs`, served
    at `now`; `taken_at` is when the controller published `status` (None: not yet)."""
    controller = status.get("controller")
    controller = controller if isinstance(controller, Mapping) else {}
    if taken_at is None:
        when = "No data published yet."
    else:
        age = max(0, int((now - taken_at).total_seconds()))
        stamp = format_time(taken_at)
        shown = stamp.replace("T", " ")[:19] + "Z"
        when = (
            f'Data taken at <time id="taken-at" datetime="{stamp}">{shown}</time>, '
            f"{age} s before this page was served; it reloads every {int(refresh)} s."
        )
    body = "".join(
        (
            _header(status, controller, when),
            "<main>",
            _servers(status),
            _platforms(status, now),
            _sites(status, now),
            _unmanaged(status),
            _plan(status, controller),
            _runs(runs, now),
            "</main>",
        )
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{int(refresh)}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>reconciler · {_e(_short(status.get('revision')) or 'no commit yet')}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>\n"
    )
